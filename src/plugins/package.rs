//! The deterministic ZIP: entries sorted, one fixed timestamp, fixed permissions, stored (jars
//! are compressed already), so the same jars give the same bytes on any machine. The layout is
//! `<plugin>/<jar>`, which MSK Connect accepts and Kafka Connect's `plugin.path` loads.

use std::io::{Cursor, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::merge::Sourced;

pub(super) fn zip_bytes(plugin: &str, jars: &[Sourced]) -> Vec<u8> {
    let mut sorted: Vec<&Sourced> = jars.iter().collect();
    sorted.sort_by(|a, b| a.jar.file_name.cmp(&b.jar.file_name));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    writer
        .add_directory(format!("{plugin}/"), options.unix_permissions(0o755))
        .expect("writing to memory");
    for sourced in sorted {
        writer
            .start_file(format!("{plugin}/{}", sourced.jar.file_name), options)
            .expect("writing to memory");
        writer
            .write_all(&sourced.jar.data)
            .expect("writing to memory");
    }
    writer.finish().expect("writing to memory").into_inner()
}
