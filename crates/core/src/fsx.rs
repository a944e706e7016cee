//! File-system access that a hostile input or a planted output cannot
//! turn against the user.
//!
//! **Inputs.** Only regular files are ever opened for reading
//! ([`open_input`]): a FIFO, socket or device, given as a path or found in
//! a model directory, would block `open` or `read` forever. The type is
//! checked with `stat` before `open`, the file is opened `O_NONBLOCK` (so a
//! FIFO swapped in between cannot block either), and the opened descriptor
//! is checked again. Small files (configs, indexes) are read with a size
//! cap ([`read_input`]).
//!
//! **Outputs.** Someone who can write into the destination directory can
//! plant a symbolic link at a name modelconv is about to write
//! (`model.safetensors.partial → ~/.bashrc`). [`OutDir`] holds a handle
//! to the output directory and does everything relative to it: files are
//! created `O_CREAT|O_EXCL|O_NOFOLLOW` (after removing a regular file of
//! that name, never anything else), subdirectories are entered
//! `O_DIRECTORY|O_NOFOLLOW`, and renames and unlinks are `renameat` /
//! `unlinkat` on the handle. A symbolic link or special file at any of
//! those names is an error naming it ([`Error::PlantedPath`]); nothing is
//! ever written through it.

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use crate::error::{Error, InvalidKind, IoContext, Result};

/// What kind of non-regular file `meta` describes, for messages.
fn special_kind(ft: std::fs::FileType) -> &'static str {
    if ft.is_dir() {
        "a directory"
    } else if ft.is_fifo() {
        "a FIFO (named pipe)"
    } else if ft.is_socket() {
        "a socket"
    } else if ft.is_block_device() || ft.is_char_device() {
        "a device"
    } else if ft.is_symlink() {
        "a symbolic link"
    } else {
        "not a regular file"
    }
}

fn not_regular(path: &Path, ft: std::fs::FileType) -> Error {
    Error::Unsupported {
        path: path.to_path_buf(),
        detail: format!(
            "{} is {}; modelconv reads regular files only",
            path.display(),
            special_kind(ft)
        ),
    }
}

/// Opens an input file for reading, refusing anything but a regular file
/// (symbolic links are followed: Hugging Face cache snapshots are links to
/// blobs). Never blocks on a FIFO.
pub fn open_input(path: &Path) -> Result<File> {
    let meta = std::fs::metadata(path).at(path)?;
    if !meta.is_file() {
        return Err(not_regular(path, meta.file_type()));
    }
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(OFlags::NONBLOCK.bits() as i32)
        .open(path)
        .at(path)?;
    let meta = file.metadata().at(path)?;
    if !meta.is_file() {
        return Err(not_regular(path, meta.file_type()));
    }
    Ok(file)
}

/// True if `path` is a regular file (following symbolic links). Unlike
/// [`Path::is_file`] this is what [`open_input`] accepts, so callers that
/// probe for optional files use it to skip special files quietly.
pub fn is_regular(path: &Path) -> bool {
    std::fs::metadata(path).is_ok_and(|m| m.is_file())
}

/// Reads a whole input file of at most `max` bytes (configs, indexes,
/// tokenizer files): a larger one is [`InvalidKind::HeaderTooLarge`], read
/// no further than the cap.
pub fn read_input(path: &Path, max: u64) -> Result<Vec<u8>> {
    let file = open_input(path)?;
    let len = file.metadata().at(path)?.len();
    if len > max {
        return Err(Error::invalid(
            path,
            InvalidKind::HeaderTooLarge,
            format!("{len} bytes, more than the {max}-byte limit for this kind of file"),
        ));
    }
    let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    file.take(max.saturating_add(1))
        .read_to_end(&mut out)
        .at(path)?;
    if out.len() as u64 > max {
        return Err(Error::invalid(
            path,
            InvalidKind::HeaderTooLarge,
            format!("grew past the {max}-byte limit while being read"),
        ));
    }
    Ok(out)
}

/// [`read_input`] as UTF-8 text.
pub fn read_input_string(path: &Path, max: u64) -> Result<String> {
    String::from_utf8(read_input(path, max)?)
        .map_err(|_| Error::invalid(path, InvalidKind::HeaderNotUtf8, "not UTF-8 text"))
}

/// The first `n` bytes of an input file (fewer if it is shorter).
pub fn read_head(path: &Path, n: usize) -> Result<Vec<u8>> {
    let mut head = Vec::with_capacity(n);
    open_input(path)?
        .take(n as u64)
        .read_to_end(&mut head)
        .at(path)?;
    Ok(head)
}

/// How [`OutDir::open_existing`] opens a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read only.
    Read,
    /// Read and write.
    ReadWrite,
    /// Write at the end.
    Append,
}

/// An output directory, held open: every file and subdirectory below it
/// is created, opened, renamed and removed relative to this handle, never
/// through a symbolic link (see the module docs).
#[derive(Debug)]
pub struct OutDir {
    path: PathBuf,
    fd: OwnedFd,
}

fn planted(path: PathBuf, what: &str) -> Error {
    Error::PlantedPath {
        path,
        what: what.to_string(),
    }
}

fn kind_of(ft: FileType) -> &'static str {
    match ft {
        FileType::Symlink => "a symbolic link",
        FileType::Directory => "a directory",
        FileType::Fifo => "a FIFO",
        FileType::Socket => "a socket",
        FileType::CharacterDevice | FileType::BlockDevice => "a device",
        _ => "not a regular file",
    }
}

impl OutDir {
    /// Opens `path`, which must be a directory (a symbolic link the user
    /// named as the destination itself is followed).
    pub fn open(path: &Path) -> Result<OutDir> {
        let fd = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| Error::io(path, e.into()))?;
        Ok(OutDir {
            path: path.to_path_buf(),
            fd,
        })
    }

    /// The directory's path (for messages).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The subdirectory `name` (one component), created when missing and
    /// `create` is set. A symbolic link or a non-directory there is an error.
    pub fn subdir(&self, name: &str, create: bool) -> Result<OutDir> {
        let path = self.path.join(name);
        check_component(&path, name)?;
        if create {
            match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(0o777)) {
                Ok(()) => {}
                Err(rustix::io::Errno::EXIST) => {}
                Err(e) => return Err(Error::io(&path, e.into())),
            }
        }
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            rustix::io::Errno::LOOP | rustix::io::Errno::NOTDIR => match self.kind(name) {
                Some(k) => planted(path.clone(), k),
                None => Error::io(&path, e.into()),
            },
            _ => Error::io(&path, e.into()),
        })?;
        Ok(OutDir { path, fd })
    }

    /// The directory holding `rel` (a `/`-separated path below this one),
    /// created as needed, and `rel`'s last component.
    pub fn parent_of(&self, rel: &str, create: bool) -> Result<(OutDir, String)> {
        let mut parts: Vec<&str> = rel.split('/').filter(|p| !p.is_empty()).collect();
        let name = parts
            .pop()
            .ok_or_else(|| Error::Internal(format!("empty output path '{rel}'")))?
            .to_string();
        check_component(&self.path.join(rel), &name)?;
        let mut dir = self.try_clone()?;
        for p in parts {
            dir = dir.subdir(p, create)?;
        }
        Ok((dir, name))
    }

    fn try_clone(&self) -> Result<OutDir> {
        Ok(OutDir {
            path: self.path.clone(),
            fd: self.fd.try_clone().at(&self.path)?,
        })
    }

    /// What is at `name` without following a symbolic link: `None` when
    /// nothing is there.
    pub fn file_type(&self, name: &str) -> Option<FileType> {
        rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)
            .ok()
            .map(|st| FileType::from_raw_mode(st.st_mode))
    }

    fn kind(&self, name: &str) -> Option<&'static str> {
        self.file_type(name).map(kind_of)
    }

    /// Creates `name` afresh for reading and writing: a regular file there
    /// (ours, from an earlier run) is removed first; anything else is an
    /// error naming it.
    pub fn create_new(&self, name: &str) -> Result<File> {
        let path = self.path.join(name);
        self.remove_regular(name)?;
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::RDWR | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o666),
        )
        .map_err(|e| match e {
            rustix::io::Errno::EXIST | rustix::io::Errno::LOOP => {
                planted(path.clone(), self.kind(name).unwrap_or("something"))
            }
            _ => Error::io(&path, e.into()),
        })?;
        Ok(File::from(fd))
    }

    /// Opens the existing regular file `name` (`None` if there is none).
    /// A symbolic link or special file there is an error.
    pub fn open_existing(&self, name: &str, access: Access) -> Result<Option<File>> {
        let path = self.path.join(name);
        match self.file_type(name) {
            None => return Ok(None),
            Some(FileType::RegularFile) => {}
            Some(other) => return Err(planted(path, kind_of(other))),
        }
        let access = match access {
            Access::Read => OFlags::RDONLY,
            Access::ReadWrite => OFlags::RDWR,
            Access::Append => OFlags::WRONLY | OFlags::APPEND,
        };
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            access | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::empty(),
        );
        let fd = match fd {
            Ok(fd) => fd,
            Err(rustix::io::Errno::NOENT) => return Ok(None),
            Err(e) => return Err(Error::io(&path, e.into())),
        };
        let file = File::from(fd);
        if !file.metadata().at(&path)?.is_file() {
            return Err(planted(path, "not a regular file"));
        }
        Ok(Some(file))
    }

    /// Opens `name` for a lock: created when missing, an existing regular
    /// file reused (a lock left by a killed run), anything else refused.
    pub fn open_lock(&self, name: &str) -> Result<File> {
        let path = self.path.join(name);
        if let Some(ft) = self.file_type(name) {
            if ft != FileType::RegularFile {
                return Err(planted(path, kind_of(ft)));
            }
        }
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o666),
        )
        .map_err(|e| match e {
            rustix::io::Errno::LOOP => planted(path.clone(), "a symbolic link"),
            _ => Error::io(&path, e.into()),
        })?;
        let file = File::from(fd);
        if !file.metadata().at(&path)?.is_file() {
            return Err(planted(path, "not a regular file"));
        }
        Ok(file)
    }

    /// `(device, inode)` of the file at `name`, not following links.
    pub fn identity(&self, name: &str) -> Option<(u64, u64)> {
        rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW)
            .ok()
            .map(|st| (st.st_dev, st.st_ino))
    }

    /// Removes `name` if it is a regular file; a symbolic link or special
    /// file is an error, a missing file is fine.
    pub fn remove_regular(&self, name: &str) -> Result<()> {
        match self.file_type(name) {
            None => Ok(()),
            Some(FileType::RegularFile) => self.unlink(name),
            Some(other) => Err(planted(self.path.join(name), kind_of(other))),
        }
    }

    /// Removes the entry `name` (a file or a link; links are not followed).
    pub fn unlink(&self, name: &str) -> Result<()> {
        match rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()) {
            Ok(()) | Err(rustix::io::Errno::NOENT) => Ok(()),
            Err(e) => Err(Error::io(self.path.join(name), e.into())),
        }
    }

    /// Removes the empty subdirectory `name`; false if it is not empty.
    pub fn remove_empty_dir(&self, name: &str) -> bool {
        rustix::fs::unlinkat(&self.fd, name, AtFlags::REMOVEDIR).is_ok()
    }

    /// Renames `from` to `to` within this directory (an existing `to`,
    /// even a symbolic link, is replaced, never followed).
    pub fn rename(&self, from: &str, to: &str) -> std::io::Result<()> {
        rustix::fs::renameat(&self.fd, from, &self.fd, to).map_err(Into::into)
    }

    /// fsync of the directory (makes renames durable; best effort).
    pub fn sync(&self) {
        let _ = rustix::fs::fsync(self.fd.as_fd());
    }
}

/// What [`walk`] found at one path below the root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry {
    /// A regular file (possibly reached through a symbolic link that stays
    /// inside the trusted root).
    File {
        /// Path relative to the root, `/`-separated.
        rel: String,
        /// The path to open.
        path: PathBuf,
        /// Size in bytes.
        size: u64,
    },
    /// Something not followed or not opened, and why.
    Skipped {
        /// Path relative to the root, `/`-separated.
        rel: String,
        /// What kind of thing it was.
        reason: Skip,
        /// Why, in words (`a symbolic link to ... outside the model directory`,
        /// `a FIFO`, `a directory already visited`).
        why: String,
    },
}

/// Why [`walk`] skipped an entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skip {
    /// A symbolic link whose target is missing or outside the trusted root.
    LinkOutside,
    /// A FIFO, socket or device.
    Special,
    /// A directory reached a second time (a link to `.` or to a parent).
    Revisited,
}

/// Limits of a directory walk. Default: depth 8, 100 000 entries.
#[derive(Debug, Clone)]
pub struct WalkLimits {
    /// Deepest level visited below the root (the root's entries are level 0).
    pub max_depth: usize,
    /// Entries looked at before the walk stops with an error.
    pub max_entries: usize,
}

impl Default for WalkLimits {
    fn default() -> Self {
        WalkLimits {
            max_depth: 8,
            max_entries: 100_000,
        }
    }
}

/// The directory that symbolic links inside `root` may point into: `root`
/// itself, or for a Hugging Face cache snapshot
/// (`…/models--org--name/snapshots/REV`) the repository folder, whose
/// `blobs/` the snapshot's links point to.
pub fn trust_root(root: &Path) -> PathBuf {
    let root = root.canonicalize().unwrap_or_else(|_| root.to_path_buf());
    let repo = root
        .parent()
        .filter(|p| p.file_name().is_some_and(|n| n == "snapshots"))
        .and_then(Path::parent)
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("models--") || n.starts_with("datasets--"))
        });
    repo.map(Path::to_path_buf).unwrap_or(root)
}

/// Walks the directory tree at `root` in sorted order, breadth by level,
/// without ever blocking or looping:
///
/// - every directory is entered once, by `(device, inode)`, so links to
///   `.` or to a parent are cut at once;
/// - a symbolic link is followed only when its target lies inside
///   [`trust_root`]`(root)`; others are [`Entry::Skipped`];
/// - only regular files are returned; FIFOs, sockets and devices are
///   skipped, never opened;
/// - `descend(rel, name)` decides whether to enter a subdirectory;
/// - more than `limits.max_entries` entries is an error naming the root.
pub fn walk(
    root: &Path,
    limits: &WalkLimits,
    descend: &dyn Fn(&str, &str) -> bool,
) -> Result<Vec<Entry>> {
    use std::collections::HashSet;
    use std::os::unix::fs::MetadataExt;

    let trusted = trust_root(root);
    let mut out = Vec::new();
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    let meta = std::fs::metadata(root).at(root)?;
    seen.insert((meta.dev(), meta.ino()));
    let mut visited = 0usize;
    let mut queue: std::collections::VecDeque<(PathBuf, String, usize)> =
        std::collections::VecDeque::from([(root.to_path_buf(), String::new(), 0)]);
    while let Some((dir, prefix, depth)) = queue.pop_front() {
        let mut entries: Vec<(String, PathBuf)> = Vec::new();
        for e in std::fs::read_dir(&dir).at(&dir)? {
            let e = e.at(&dir)?;
            visited += 1;
            if visited > limits.max_entries {
                return Err(Error::Unsupported {
                    path: root.to_path_buf(),
                    detail: format!(
                        "more than {} entries below {}; is this a model directory?",
                        limits.max_entries,
                        root.display()
                    ),
                });
            }
            entries.push((e.file_name().to_string_lossy().into_owned(), e.path()));
        }
        entries.sort();
        for (name, path) in entries {
            let rel = if prefix.is_empty() {
                name.clone()
            } else {
                format!("{prefix}/{name}")
            };
            let Ok(lmeta) = std::fs::symlink_metadata(&path) else {
                continue;
            };
            if lmeta.file_type().is_symlink() {
                let inside = path.canonicalize().ok().filter(|t| t.starts_with(&trusted));
                if inside.is_none() {
                    let target = std::fs::read_link(&path)
                        .map(|t| t.display().to_string())
                        .unwrap_or_default();
                    out.push(Entry::Skipped {
                        rel,
                        reason: Skip::LinkOutside,
                        why: format!(
                            "a symbolic link to '{target}', which is missing or outside {}",
                            trusted.display()
                        ),
                    });
                    continue;
                }
            }
            let Ok(meta) = std::fs::metadata(&path) else {
                continue;
            };
            if meta.is_dir() {
                if depth + 1 > limits.max_depth || !descend(&rel, &name) {
                    continue;
                }
                if !seen.insert((meta.dev(), meta.ino())) {
                    out.push(Entry::Skipped {
                        rel,
                        reason: Skip::Revisited,
                        why: "a directory already visited (a link loop?)".into(),
                    });
                    continue;
                }
                queue.push_back((path, rel, depth + 1));
            } else if meta.is_file() {
                out.push(Entry::File {
                    rel,
                    path,
                    size: meta.len(),
                });
            } else {
                out.push(Entry::Skipped {
                    rel,
                    reason: Skip::Special,
                    why: format!("{}, not a regular file", special_kind(meta.file_type())),
                });
            }
        }
    }
    out.sort_by(|a, b| entry_rel(a).cmp(entry_rel(b)));
    Ok(out)
}

fn entry_rel(e: &Entry) -> &str {
    match e {
        Entry::File { rel, .. } | Entry::Skipped { rel, .. } => rel,
    }
}

/// One path component of an output name: no separators, no `.`/`..`, no NUL.
fn check_component(path: &Path, name: &str) -> Result<()> {
    if name.is_empty() || name == "." || name == ".." || name.contains('\0') || name.contains('/') {
        return Err(Error::InvalidOption(format!(
            "{}: '{name}' is not a valid output file name",
            path.display()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planted_symlinks_are_never_followed() -> Result<()> {
        let tmp = tempfile::tempdir().at("tmp")?;
        let victim = tmp.path().join("victim");
        std::fs::write(&victim, b"precious").at(&victim)?;
        let out = tmp.path().join("out");
        std::fs::create_dir(&out).at(&out)?;
        std::os::unix::fs::symlink(&victim, out.join("x.partial")).at("link")?;
        std::os::unix::fs::symlink(tmp.path(), out.join("sub")).at("link")?;
        let dir = OutDir::open(&out)?;
        assert!(matches!(
            dir.create_new("x.partial"),
            Err(Error::PlantedPath { .. })
        ));
        assert!(matches!(
            dir.open_existing("x.partial", Access::Append),
            Err(Error::PlantedPath { .. })
        ));
        assert!(matches!(
            dir.open_lock("x.partial"),
            Err(Error::PlantedPath { .. })
        ));
        assert!(matches!(
            dir.parent_of("sub/file", true),
            Err(Error::PlantedPath { .. })
        ));
        assert_eq!(std::fs::read(&victim).at(&victim)?, b"precious");
        // A regular file of ours is replaced.
        std::fs::write(out.join("y.partial"), b"old").at("y")?;
        let mut f = dir.create_new("y.partial")?;
        std::io::Write::write_all(&mut f, b"new").at("y")?;
        assert_eq!(std::fs::read(out.join("y.partial")).at("y")?, b"new");
        Ok(())
    }

    #[test]
    fn walks_end_on_link_loops_and_skip_links_out() -> Result<()> {
        let tmp = tempfile::tempdir().at("tmp")?;
        let root = tmp.path().join("model");
        std::fs::create_dir_all(root.join("sub")).at("mk")?;
        std::fs::write(root.join("a.json"), b"{}").at("a")?;
        std::fs::write(root.join("sub/b.txt"), b"b").at("b")?;
        std::fs::write(tmp.path().join("secret"), b"s").at("s")?;
        for i in 0..8 {
            std::os::unix::fs::symlink(".", root.join(format!("loop{i}"))).at("l")?;
        }
        std::os::unix::fs::symlink(tmp.path().join("secret"), root.join("out.txt")).at("l")?;
        std::os::unix::fs::symlink("a.json", root.join("in.json")).at("l")?;
        let entries = walk(&root, &WalkLimits::default(), &|_, _| true)?;
        let files: Vec<&str> = entries
            .iter()
            .filter_map(|e| match e {
                Entry::File { rel, .. } => Some(rel.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(files, ["a.json", "in.json", "sub/b.txt"]);
        assert!(entries
            .iter()
            .any(|e| matches!(e, Entry::Skipped { rel, .. } if rel == "out.txt")));
        assert_eq!(entries.len(), 3 + 1 + 8);
        Ok(())
    }

    #[test]
    fn special_files_are_not_opened_as_inputs() -> Result<()> {
        let tmp = tempfile::tempdir().at("tmp")?;
        let fifo = tmp.path().join("pipe");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o600),
            0,
        )
        .map_err(|e| Error::io(&fifo, e.into()))?;
        assert!(matches!(open_input(&fifo), Err(Error::Unsupported { .. })));
        assert!(matches!(
            open_input(tmp.path()),
            Err(Error::Unsupported { .. })
        ));
        assert!(!is_regular(&fifo));
        let big = tmp.path().join("big.json");
        std::fs::write(&big, vec![b' '; 100]).at(&big)?;
        assert!(read_input(&big, 99).is_err());
        assert_eq!(read_input(&big, 100)?.len(), 100);
        Ok(())
    }
}
