//! Journal rows as a damaged or hand-edited file could hold them, read back as a restart would.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nonstop::fuzzing::journal_rows(data));
