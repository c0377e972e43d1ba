//! Where defender keeps its files, by the XDG base-directory rules, in one place so the setup,
//! the log cache and the devnet's state follow the same ones.

use std::path::PathBuf;

/// A variable naming a path, when set and not empty.
pub fn from_env(name: &str) -> Option<PathBuf> {
    std::env::var_os(name).filter(|v| !v.is_empty()).map(PathBuf::from)
}

/// `$<xdg_var>/defender`, else `~/<home_fallback>/defender`.
pub fn defender_dir(xdg_var: &str, home_fallback: &str) -> Option<PathBuf> {
    from_env(xdg_var)
        .or_else(|| from_env("HOME").map(|home| home.join(home_fallback)))
        .map(|d| d.join("defender"))
}
