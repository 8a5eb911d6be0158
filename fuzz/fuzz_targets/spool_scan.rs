#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| provocapi_fuzz::spool_scan(data));
