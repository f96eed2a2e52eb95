//! Lays the deployed binary's hot functions out together, when scripts/build-release.sh asks
//! for it (`NONSTOP_CODE_LAYOUT=1`): the functions a running bot executes, listed in
//! scripts/hot-functions.txt, go to the start of `.text`, so only their pages become resident
//! (BENCHMARKS.md has what it saves). Cargo reruns this script, and so relinks `nonstop`,
//! whenever the list changes.
//!
//! The list names functions by their symbols, which carry hashes that change with the
//! compiler and the dependencies' versions. A list made with another compiler is said here;
//! build-release.sh counts how many listed names the linked binary still has and fails when
//! most are gone, so a stale list cannot pass quietly.

use std::env;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-env-changed=NONSTOP_CODE_LAYOUT");
    if env::var("NONSTOP_CODE_LAYOUT").as_deref() != Ok("1") {
        return;
    }
    let manifest = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let list = manifest.join("../../scripts/hot-functions.txt");
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
    let text = match std::fs::read_to_string(&list) {
        Ok(text) => text,
        Err(e) => panic!(
            "NONSTOP_CODE_LAYOUT=1 but {} cannot be read ({e}); run scripts/profile-code-layout.sh or build without the layout",
            list.display()
        ),
    };
    let made_with = text
        .lines()
        .find_map(|line| line.strip_prefix("# rustc: "))
        .unwrap_or("an unknown compiler");
    if made_with.trim() != rustc {
        println!(
            "cargo:warning=scripts/hot-functions.txt was made with {made_with}, this build uses {rustc}: symbol names change with the compiler; run scripts/profile-code-layout.sh and commit the list"
        );
    }
    let list = list.canonicalize().unwrap_or(list);
    println!(
        "cargo:rustc-link-arg-bin=nonstop=-Wl,--symbol-ordering-file={}",
        list.display()
    );
    // Names the binary does not have are counted by build-release.sh, not warned of one by one.
    println!("cargo:rustc-link-arg-bin=nonstop=-Wl,--no-warn-symbol-ordering");
    // The static-pie binary relocates itself at start: each pointer in its data has a
    // 24-byte entry in `.rela.dyn` (about 350 KiB), read once and then resident for good.
    // Packed (RELR, glibc 2.36 and later) the same relocations take a few KiB.
    println!("cargo:rustc-link-arg-bin=nonstop=-Wl,-z,pack-relative-relocs");
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
