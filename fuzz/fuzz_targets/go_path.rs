#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| depot::fuzzing::go_path(data));
