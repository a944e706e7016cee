//! Offline resolution of Hugging Face hub ids (`org/name[@revision]`) to a
//! snapshot directory in the local cache. modelconv never downloads.
//!
//! Cache location, as huggingface_hub: `$HF_HUB_CACHE`, else the older
//! `$HUGGINGFACE_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
//! `~/.cache/huggingface/hub`. Layout: `models--org--name/refs/<revision>`
//! holds a commit hash; `models--org--name/snapshots/<hash>/` holds the
//! files (symlinks into `blobs/`).

use std::env;
use std::path::{Path, PathBuf};

use modelconv_core::error::{Error, Result};

/// True if `s` has the shape of a hub id: `org/name` or `org/name@rev`,
/// made of ASCII letters, digits, `-`, `_` and `.` (not `.` or `..` alone).
pub fn looks_like_hub_id(s: &str) -> bool {
    let id = s.split_once('@').map_or(s, |(id, _)| id);
    let mut parts = id.split('/');
    let (Some(org), Some(name), None) = (parts.next(), parts.next(), parts.next()) else {
        return false;
    };
    [org, name].iter().all(|p| {
        !p.is_empty()
            && *p != "."
            && *p != ".."
            && p.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
    })
}

/// The hub cache directory from the environment.
pub fn cache_dir() -> PathBuf {
    if let Some(p) = env::var_os("HF_HUB_CACHE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = env::var_os("HUGGINGFACE_HUB_CACHE").filter(|p| !p.is_empty()) {
        return PathBuf::from(p);
    }
    if let Some(p) = env::var_os("HF_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("hub");
    }
    if let Some(p) = env::var_os("XDG_CACHE_HOME").filter(|p| !p.is_empty()) {
        return PathBuf::from(p).join("huggingface").join("hub");
    }
    let home = env::var_os("HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".cache").join("huggingface").join("hub")
}

/// Resolves `org/name[@revision]` (default revision `main`) in `cache`.
pub fn resolve_in(spec: &str, cache: &Path) -> Result<PathBuf> {
    let (id, rev) = spec.split_once('@').unwrap_or((spec, "main"));
    let not_cached = |detail: String| Error::NotCached {
        id: id.to_string(),
        cache: cache.to_path_buf(),
        detail,
    };
    if !looks_like_hub_id(spec) || rev.is_empty() || rev.contains("..") || rev.starts_with('/') {
        return Err(Error::InvalidOption(format!(
            "'{spec}' is not a valid hub id (expected org/name[@revision])"
        )));
    }
    let repo = cache.join(format!("models--{}", id.replace('/', "--")));
    if !repo.is_dir() {
        return Err(not_cached(format!("no {} directory", repo.display())));
    }
    let ref_file = repo.join("refs").join(rev);
    let commit = if ref_file.is_file() {
        modelconv_core::fsx::read_input_string(&ref_file, 4096)?
            .trim()
            .to_string()
    } else if rev.len() == 40 && rev.chars().all(|c| c.is_ascii_hexdigit()) {
        rev.to_string()
    } else {
        return Err(not_cached(format!(
            "revision '{rev}' has no ref in {}",
            repo.join("refs").display()
        )));
    };
    if commit.is_empty() || !commit.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(not_cached(format!(
            "ref file {} is not a commit hash",
            ref_file.display()
        )));
    }
    let snapshot = repo.join("snapshots").join(&commit);
    if !snapshot.is_dir() {
        return Err(not_cached(format!(
            "snapshot {} is missing",
            snapshot.display()
        )));
    }
    Ok(snapshot)
}

/// Resolves a hub id in the cache named by the environment.
pub fn resolve(spec: &str) -> Result<PathBuf> {
    resolve_in(spec, &cache_dir())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn hub_id_shapes() {
        assert!(looks_like_hub_id("sentence-transformers/all-MiniLM-L6-v2"));
        assert!(looks_like_hub_id("org/name@v1.0"));
        assert!(!looks_like_hub_id("name"));
        assert!(!looks_like_hub_id("a/b/c"));
        assert!(!looks_like_hub_id("../x"));
        assert!(!looks_like_hub_id("/abs/path"));
        assert!(!looks_like_hub_id("org/na me"));
    }

    #[test]
    fn resolves_refs_and_reports_missing() -> Result<()> {
        let tmp = tempfile::tempdir().map_err(|e| Error::io("tmp", e))?;
        let repo = tmp.path().join("models--org--m");
        let sha = "0123456789abcdef0123456789abcdef01234567";
        fs::create_dir_all(repo.join("refs")).map_err(|e| Error::io("x", e))?;
        fs::create_dir_all(repo.join("snapshots").join(sha)).map_err(|e| Error::io("x", e))?;
        fs::write(repo.join("refs/main"), format!("{sha}\n")).map_err(|e| Error::io("x", e))?;
        assert_eq!(
            resolve_in("org/m", tmp.path())?,
            repo.join("snapshots").join(sha)
        );
        assert_eq!(
            resolve_in(&format!("org/m@{sha}"), tmp.path())?,
            repo.join("snapshots").join(sha)
        );
        assert!(matches!(
            resolve_in("org/other", tmp.path()),
            Err(Error::NotCached { .. })
        ));
        assert!(matches!(
            resolve_in("org/m@dev", tmp.path()),
            Err(Error::NotCached { .. })
        ));
        Ok(())
    }
}
