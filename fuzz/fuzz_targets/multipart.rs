//! `multipart/form-data` uploads (`POST /api/upload`, `/api/v1/attachments`, the widget's),
//! read as the attachments function reads them.
#![no_main]

use std::sync::LazyLock;

use hookgate_fuzz::request;
use libfuzzer_sys::fuzz_target;
use shared::api::attachments::read_form;
use tokio::runtime::Runtime;

/// Reading a form that is all in memory needs no I/O or timers.
static RUNTIME: LazyLock<Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("a runtime without I/O or timers")
});

fuzz_target!(|data: &[u8]| {
    let request = request(data, "/api/upload");
    let _ = RUNTIME.block_on(read_form(&request));
});
