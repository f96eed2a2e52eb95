//! Lays the deployed binary's hot functions out together, when scripts/build-release.sh asks
//! for it (`NONSTOP_CODE_LAYOUT=1`): the functions a running bot executes go to the start of
//! `.text`, so only their pages become resident (BENCHMARKS.md has what it saves). The list
//! given (`NONSTOP_CODE_LAYOUT_FILE`) is scripts/hot-functions.txt resolved against this
//! build's own symbols by build-release.sh; cargo reruns this script, and so relinks
//! `nonstop`, whenever it changes. Until it exists (the first link of a fresh tree) the
//! binary is linked as the compiler lays it out.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=NONSTOP_CODE_LAYOUT");
    if env::var("NONSTOP_CODE_LAYOUT").as_deref() != Ok("1") {
        return;
    }
    println!("cargo:rerun-if-env-changed=NONSTOP_CODE_LAYOUT_FILE");
    let Some(list) = env::var_os("NONSTOP_CODE_LAYOUT_FILE").map(PathBuf::from) else {
        println!("cargo:warning=NONSTOP_CODE_LAYOUT=1 without NONSTOP_CODE_LAYOUT_FILE; building without the layout (scripts/build-release.sh sets both)");
        return;
    };
    println!("cargo:rerun-if-changed={}", list.display());
    let target = env::var("TARGET").unwrap_or_default();
    let rustc = compiler_version();
    // lld takes an ordering file; rustc links with lld on this target from 1.90 on.
    let minor = rustc
        .strip_prefix("rustc 1.")
        .and_then(|rest| rest.split('.').next())
        .and_then(|minor| minor.parse::<u32>().ok())
        .unwrap_or(0);
    if target != "x86_64-unknown-linux-gnu" || minor < 90 {
        println!(
            "cargo:warning=code layout needs lld on x86_64-unknown-linux-gnu (rustc 1.90 or later); building {target} with {rustc} without it"
        );
        return;
    }
    // The static-pie binary relocates itself at start: each pointer in its data has a
    // 24-byte entry in `.rela.dyn` (about 350 KiB), read once and then resident for good.
    // Packed (RELR, glibc 2.36 and later) the same relocations take a few KiB.
    println!("cargo:rustc-link-arg-bin=nonstop=-Wl,-z,pack-relative-relocs");
    if !list.exists() {
        return;
    }
    let list = list.canonicalize().unwrap_or(list);
    println!(
        "cargo:rustc-link-arg-bin=nonstop=-Wl,--symbol-ordering-file={}",
        list.display()
    );
    // Names the binary does not have are counted by build-release.sh, not warned of one by one.
    println!("cargo:rustc-link-arg-bin=nonstop=-Wl,--no-warn-symbol-ordering");
}

/// `rustc -V` of the compiler cargo builds with.
fn compiler_version() -> String {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    Command::new(rustc)
        .arg("-V")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok())
        .map(|v| v.trim().to_owned())
        .unwrap_or_default()
}
