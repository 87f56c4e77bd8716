//! `multipart/form-data` uploads (`POST /api/upload`, `/api/v1/attachments`, the widget's),
//! read as the attachments function reads them.
#![no_main]

use hookgate_fuzz::request;
use libfuzzer_sys::fuzz_target;
use shared::api::attachments::read_form;

fuzz_target!(|data: &[u8]| {
    let request = request(data, "/api/upload");
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime without I/O or timers");
    let _ = runtime.block_on(read_form(&request));
});
