//! A Socket Mode text frame: head, envelope, request, every typed payload.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| nonstop::fuzzing::socket_frame(data));
