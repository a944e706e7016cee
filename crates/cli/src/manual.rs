//! `modelconv completions SHELL` and `modelconv man`: generated from the
//! clap definitions, so they list exactly the flags the CLI accepts.

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::args::{Cli, CompletionsArgs, ManArgs};

/// Prints the completion script for `args.shell`.
pub(crate) fn completions(args: &CompletionsArgs) -> Result<()> {
    let mut cmd = Cli::command();
    let mut out = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "modelconv", &mut out);
    crate::emit(&String::from_utf8_lossy(&out));
    Ok(())
}

/// Prints modelconv.1, or writes it and one page per subcommand into
/// `args.out_dir`.
pub(crate) fn man(args: &ManArgs) -> Result<()> {
    let cmd = Cli::command();
    let page = |cmd: clap::Command| -> Result<Vec<u8>> {
        let mut out = Vec::new();
        clap_mangen::Man::new(cmd).render(&mut out)?;
        Ok(out)
    };
    let Some(dir) = &args.out_dir else {
        crate::emit(&String::from_utf8_lossy(&page(cmd)?));
        return Ok(());
    };
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let write = |name: &str, bytes: Vec<u8>| -> Result<()> {
        let path = dir.join(name);
        std::fs::write(&path, bytes).with_context(|| format!("writing {}", path.display()))
    };
    for sub in cmd.get_subcommands() {
        // clap names are 'static; the process ends right after.
        let name: &'static str =
            Box::leak(format!("modelconv-{}", sub.get_name()).into_boxed_str());
        write(&format!("{name}.1"), page(sub.clone().name(name))?)?;
    }
    write("modelconv.1", page(cmd)?)
}
