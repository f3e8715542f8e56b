//! Files a scenario names (`{ file = … }` payloads and certificates): inside the
//! scenario's folder, regular, and of bounded size, so a scenario cannot read
//! `/etc/shadow` into a report, block on a FIFO or fill memory from `/dev/zero`.

use std::io::Read;
use std::path::{Component, Path};

use super::limits::MAX_DATA_FILE_BYTES;

/// Reads `rel`, a path relative to `base` (the scenario's folder).
pub fn read_data_file(base: &Path, rel: &str) -> Result<Vec<u8>, String> {
    let path = Path::new(rel);
    if rel.is_empty() {
        return Err("file: the path is empty".into());
    }
    if path.is_absolute() || path.components().any(|c| matches!(c, Component::Prefix(_))) {
        return Err(format!(
            "file {rel:?}: absolute paths are not allowed; name a file relative to the scenario's folder"
        ));
    }
    if path.components().any(|c| c == Component::ParentDir) {
        return Err(format!(
            "file {rel:?}: `..` is not allowed; the file must be inside the scenario's folder"
        ));
    }
    let joined = base.join(path);
    let folder = base
        .canonicalize()
        .map_err(|e| format!("file {rel:?}: cannot resolve the scenario's folder: {e}"))?;
    let real = joined.canonicalize().map_err(|e| format!("file {rel:?}: {e}"))?;
    if !real.starts_with(&folder) {
        return Err(format!(
            "file {rel:?}: it leads outside the scenario's folder (to {})",
            real.display()
        ));
    }
    let meta = std::fs::metadata(&real).map_err(|e| format!("file {rel:?}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("file {rel:?}: not a regular file"));
    }
    if meta.len() > MAX_DATA_FILE_BYTES {
        return Err(format!(
            "file {rel:?}: {} bytes, more than the limit of {MAX_DATA_FILE_BYTES}",
            meta.len()
        ));
    }
    let f = std::fs::File::open(&real).map_err(|e| format!("file {rel:?}: {e}"))?;
    let mut out = Vec::with_capacity(meta.len() as usize);
    f.take(MAX_DATA_FILE_BYTES + 1)
        .read_to_end(&mut out)
        .map_err(|e| format!("file {rel:?}: {e}"))?;
    if out.len() as u64 > MAX_DATA_FILE_BYTES {
        return Err(format!("file {rel:?}: more than the limit of {MAX_DATA_FILE_BYTES} bytes"));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_regular_files_inside_the_folder() {
        let dir = std::env::temp_dir().join(format!("wsim-files-{}", std::process::id()));
        let sub = dir.join("suite");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join("ok.bin"), b"abc").unwrap();
        std::fs::write(dir.join("outside.bin"), b"secret").unwrap();
        assert_eq!(read_data_file(&sub, "ok.bin").unwrap(), b"abc");
        assert_eq!(read_data_file(&sub, "./ok.bin").unwrap(), b"abc");
        let e = read_data_file(&sub, "/etc/hostname").unwrap_err();
        assert!(e.contains("absolute paths are not allowed"), "{e}");
        let e = read_data_file(&sub, "../outside.bin").unwrap_err();
        assert!(e.contains("`..` is not allowed"), "{e}");
        std::os::unix::fs::symlink(dir.join("outside.bin"), sub.join("link.bin")).unwrap();
        let e = read_data_file(&sub, "link.bin").unwrap_err();
        assert!(e.contains("leads outside"), "{e}");
        std::os::unix::fs::symlink("/dev/zero", sub.join("zero")).unwrap();
        let e = read_data_file(&sub, "zero").unwrap_err();
        assert!(e.contains("leads outside") || e.contains("not a regular file"), "{e}");
        std::fs::create_dir(sub.join("folder")).unwrap();
        let e = read_data_file(&sub, "folder").unwrap_err();
        assert!(e.contains("not a regular file"), "{e}");
        let e = read_data_file(&sub, "missing.bin").unwrap_err();
        assert!(e.contains("missing.bin"), "{e}");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
