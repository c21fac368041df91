//! ServiceLoader manifests for the Kafka Connect plugins in a plugin's jars (KIP-898), so that a
//! worker can find them with `plugin.discovery=service_load` instead of scanning every class of
//! every jar by reflection (seconds per worker start). Jars that ship their manifests (Debezium
//! 3.x) keep them; for classes no manifest names (the Confluent Avro converter 7.0 ships none),
//! a generated jar `deploy-plugin-manifests.jar` in the plugin carries them.
//!
//! A class is a plugin of a type when it is public, concrete, has a public no-argument
//! constructor (ServiceLoader's requirements) and reaches the type through its superclasses and
//! interfaces as the class files of the plugin's jars declare them. A class whose hierarchy
//! leaves the plugin's jars through a class other than the plugin types themselves (a class of
//! the worker's own classpath) is not followed there.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read, Write};

use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipWriter};

use super::archive::Jar;

/// Kafka Connect's plugin types (`PluginType` in connect-runtime 4.3), as class-file names.
const PLUGIN_TYPES: [&str; 9] = [
    "org/apache/kafka/connect/source/SourceConnector",
    "org/apache/kafka/connect/sink/SinkConnector",
    "org/apache/kafka/connect/storage/Converter",
    "org/apache/kafka/connect/storage/HeaderConverter",
    "org/apache/kafka/connect/transforms/Transformation",
    "org/apache/kafka/connect/transforms/predicates/Predicate",
    "org/apache/kafka/common/config/provider/ConfigProvider",
    "org/apache/kafka/connect/rest/ConnectRestExtension",
    "org/apache/kafka/connect/connector/policy/ConnectorClientConfigOverridePolicy",
];

pub const JAR_NAME: &str = "deploy-plugin-manifests.jar";

const PUBLIC: u16 = 0x0001;
const INTERFACE: u16 = 0x0200;
const ABSTRACT: u16 = 0x0400;

/// What a class file declares about its place in the hierarchy.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Class {
    name: String,
    flags: u16,
    parents: Vec<String>,
    public_no_arg: bool,
}

struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let slice = self.bytes.get(self.at..self.at.checked_add(n)?)?;
        self.at += n;
        Some(slice)
    }
    fn u1(&mut self) -> Option<u8> {
        Some(self.take(1)?[0])
    }
    fn u2(&mut self) -> Option<u16> {
        let b = self.take(2)?;
        Some(u16::from_be_bytes([b[0], b[1]]))
    }
    fn u4(&mut self) -> Option<u32> {
        let b = self.take(4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// Parses the header of a class file (JVM spec §4.1); `None` when it is not one.
fn parse(bytes: &[u8]) -> Option<Class> {
    let mut r = Reader { bytes, at: 0 };
    if r.u4()? != 0xCAFE_BABE {
        return None;
    }
    r.take(4)?;
    let count = r.u2()? as usize;
    // Constant pool: UTF-8 strings and class entries are all this needs.
    let mut utf8: BTreeMap<usize, String> = BTreeMap::new();
    let mut classes: BTreeMap<usize, usize> = BTreeMap::new();
    let mut index = 1;
    while index < count {
        let tag = r.u1()?;
        match tag {
            1 => {
                let length = r.u2()? as usize;
                let text = r.take(length)?;
                utf8.insert(index, String::from_utf8_lossy(text).into_owned());
            }
            7 => {
                classes.insert(index, r.u2()? as usize);
            }
            8 | 16 | 19 | 20 => {
                r.take(2)?;
            }
            15 => {
                r.take(3)?;
            }
            3 | 4 | 9 | 10 | 11 | 12 | 17 | 18 => {
                r.take(4)?;
            }
            5 | 6 => {
                r.take(8)?;
                index += 1;
            }
            _ => return None,
        }
        index += 1;
    }
    let class_name = |i: usize| classes.get(&i).and_then(|n| utf8.get(n)).cloned();
    let flags = r.u2()?;
    let name = class_name(r.u2()? as usize)?;
    let mut parents: Vec<String> = class_name(r.u2()? as usize).into_iter().collect();
    for _ in 0..r.u2()? {
        parents.extend(class_name(r.u2()? as usize));
    }
    let skip_members = |r: &mut Reader, mut wanted: Option<&mut bool>| -> Option<()> {
        for _ in 0..r.u2()? {
            let (member_flags, member, descriptor) = (r.u2()?, r.u2()?, r.u2()?);
            if let Some(found) = wanted.as_deref_mut() {
                *found |= member_flags & PUBLIC != 0
                    && utf8.get(&(member as usize)).map(String::as_str) == Some("<init>")
                    && utf8.get(&(descriptor as usize)).map(String::as_str) == Some("()V");
            }
            for _ in 0..r.u2()? {
                r.u2()?;
                let length = r.u4()? as usize;
                r.take(length)?;
            }
        }
        Some(())
    };
    skip_members(&mut r, None)?;
    let mut public_no_arg = false;
    skip_members(&mut r, Some(&mut public_no_arg))?;
    Some(Class {
        name,
        flags,
        parents,
        public_no_arg,
    })
}

/// `org/x/A$B` → `org.x.A$B`, as manifests name classes.
fn dotted(name: &str) -> String {
    name.replace('/', ".")
}

/// Every class of the jars, and the providers their manifests already name, per type.
fn read(jars: &[&Jar]) -> (BTreeMap<String, Class>, BTreeMap<String, BTreeSet<String>>) {
    let mut classes = BTreeMap::new();
    let mut declared: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for jar in jars {
        let Ok(mut archive) = zip::ZipArchive::new(Cursor::new(&jar.data)) else {
            continue;
        };
        for i in 0..archive.len() {
            let Ok(mut entry) = archive.by_index(i) else {
                continue;
            };
            let Some(path) = entry.enclosed_name() else {
                continue;
            };
            let path = path.to_string_lossy().replace('\\', "/");
            let is_class = path.ends_with(".class")
                && !path.starts_with("META-INF/")
                && !path.ends_with("module-info.class");
            let service = path.strip_prefix("META-INF/services/").map(str::to_string);
            if !is_class && service.is_none() {
                continue;
            }
            let mut bytes = Vec::new();
            if entry.read_to_end(&mut bytes).is_err() {
                continue;
            }
            match service {
                Some(service) => {
                    let names = declared.entry(service).or_default();
                    for line in String::from_utf8_lossy(&bytes).lines() {
                        let line = line.split('#').next().unwrap_or_default().trim();
                        if !line.is_empty() {
                            names.insert(line.to_string());
                        }
                    }
                }
                None => {
                    if let Some(class) = parse(&bytes) {
                        classes.insert(class.name.clone(), class);
                    }
                }
            }
        }
    }
    (classes, declared)
}

/// Whether `name` reaches `wanted` through what the class files declare.
fn reaches(
    name: &str,
    wanted: &str,
    classes: &BTreeMap<String, Class>,
    memo: &mut BTreeMap<(String, String), bool>,
) -> bool {
    if name == wanted {
        return true;
    }
    let key = (name.to_string(), wanted.to_string());
    if let Some(known) = memo.get(&key) {
        return *known;
    }
    // Cycles cannot occur in valid class files; the memo entry guards against broken ones.
    memo.insert(key.clone(), false);
    let found = classes.get(name).is_some_and(|class| {
        class
            .parents
            .iter()
            .any(|p| reaches(p, wanted, classes, memo))
    });
    memo.insert(key, found);
    found
}

/// What the jars hold of Kafka Connect plugins, read once.
pub(super) struct Scan {
    /// The manifests the jars lack: service file name → provider class names, sorted.
    pub missing: BTreeMap<String, BTreeSet<String>>,
    /// Every plugin class the jars provide, declared by their manifests or found missing.
    pub provided: BTreeSet<String>,
}

pub(super) fn scan(jars: &[&Jar]) -> Scan {
    let (classes, declared) = read(jars);
    let mut memo = BTreeMap::new();
    let mut missing: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for class in classes.values() {
        let concrete = class.flags & PUBLIC != 0
            && class.flags & (INTERFACE | ABSTRACT) == 0
            && class.public_no_arg;
        if !concrete {
            continue;
        }
        for wanted in PLUGIN_TYPES {
            if reaches(&class.name, wanted, &classes, &mut memo) {
                let service = dotted(wanted);
                let provider = dotted(&class.name);
                if !declared
                    .get(&service)
                    .is_some_and(|d| d.contains(&provider))
                {
                    missing.entry(service).or_default().insert(provider);
                }
            }
        }
    }
    let types: BTreeSet<String> = PLUGIN_TYPES.iter().map(|t| dotted(t)).collect();
    let provided = declared
        .into_iter()
        .filter(|(service, _)| types.contains(service))
        .flat_map(|(_, names)| names)
        .chain(missing.values().flatten().cloned())
        .collect();
    Scan { missing, provided }
}

/// A deterministic jar of `META-INF/services` files.
pub(super) fn jar(manifests: &BTreeMap<String, BTreeSet<String>>) -> Vec<u8> {
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Stored)
        .last_modified_time(DateTime::default())
        .unix_permissions(0o644);
    let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
    for (service, providers) in manifests {
        writer
            .start_file(format!("META-INF/services/{service}"), options)
            .expect("writing to memory");
        let text: String = providers.iter().map(|p| format!("{p}\n")).collect();
        writer
            .write_all(text.as_bytes())
            .expect("writing to memory");
    }
    writer.finish().expect("writing to memory").into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal class file: `name` extends `parent` and implements `interfaces`, with a public
    /// no-argument constructor when `constructor`.
    fn utf8(pool: &mut Vec<Vec<u8>>, text: &str) -> u16 {
        let mut entry = vec![1];
        entry.extend((text.len() as u16).to_be_bytes());
        entry.extend(text.as_bytes());
        pool.push(entry);
        pool.len() as u16
    }

    fn class_entry(pool: &mut Vec<Vec<u8>>, text: &str) -> u16 {
        let name = utf8(pool, text);
        let mut entry = vec![7];
        entry.extend(name.to_be_bytes());
        pool.push(entry);
        pool.len() as u16
    }

    fn class(
        name: &str,
        flags: u16,
        parent: &str,
        interfaces: &[&str],
        constructor: bool,
    ) -> Vec<u8> {
        let mut pool: Vec<Vec<u8>> = Vec::new();
        let this = class_entry(&mut pool, name);
        let parent = class_entry(&mut pool, parent);
        let interfaces: Vec<u16> = interfaces
            .iter()
            .map(|i| class_entry(&mut pool, i))
            .collect();
        // A long takes two slots.
        pool.push(vec![5, 0, 0, 0, 0, 0, 0, 0, 1]);
        pool.push(Vec::new());
        let init = utf8(&mut pool, "<init>");
        let descriptor = utf8(&mut pool, "()V");
        let mut out = vec![0xCA, 0xFE, 0xBA, 0xBE, 0, 0, 0, 61];
        out.extend((pool.len() as u16 + 1).to_be_bytes());
        for entry in &pool {
            out.extend(entry);
        }
        out.extend(flags.to_be_bytes());
        out.extend(this.to_be_bytes());
        out.extend(parent.to_be_bytes());
        out.extend((interfaces.len() as u16).to_be_bytes());
        for i in interfaces {
            out.extend(i.to_be_bytes());
        }
        out.extend(0u16.to_be_bytes()); // fields
        out.extend(1u16.to_be_bytes()); // methods
        out.extend((if constructor { PUBLIC } else { 0 }).to_be_bytes());
        out.extend(init.to_be_bytes());
        out.extend(descriptor.to_be_bytes());
        out.extend(1u16.to_be_bytes()); // one attribute
        out.extend(init.to_be_bytes());
        out.extend(3u32.to_be_bytes());
        out.extend([0, 0, 0]);
        out
    }

    fn jar_of(files: &[(&str, Vec<u8>)]) -> Jar {
        let mut writer = ZipWriter::new(Cursor::new(Vec::new()));
        for (path, bytes) in files {
            writer
                .start_file(*path, SimpleFileOptions::default())
                .expect("entry");
            writer.write_all(bytes).expect("bytes");
        }
        Jar {
            file_name: "test.jar".into(),
            data: writer.finish().expect("jar").into_inner(),
        }
    }

    #[test]
    fn class_files_are_read_for_their_hierarchy() {
        let bytes = class("a/B", PUBLIC, "a/Base", &["x/I", "y/J"], true);
        let parsed = parse(&bytes).expect("a class file");
        assert_eq!(parsed.name, "a/B");
        assert_eq!(parsed.parents, ["a/Base", "x/I", "y/J"]);
        assert!(parsed.public_no_arg);
        assert_eq!(parse(b"not a class"), None);
        assert_eq!(parse(&bytes[..bytes.len() / 2]), None);
    }

    #[test]
    fn concrete_plugins_without_a_manifest_get_one() {
        let converter = "org/apache/kafka/connect/storage/Converter";
        let source = "org/apache/kafka/connect/source/SourceConnector";
        let jar = jar_of(&[
            // Through an abstract class of its own jar, and directly.
            (
                "c/AbstractConverter.class",
                class(
                    "c/AbstractConverter",
                    PUBLIC | ABSTRACT,
                    "java/lang/Object",
                    &[converter],
                    true,
                ),
            ),
            (
                "c/AvroConverter.class",
                class("c/AvroConverter", PUBLIC, "c/AbstractConverter", &[], true),
            ),
            (
                "c/Direct.class",
                class("c/Direct", PUBLIC, "java/lang/Object", &[converter], true),
            ),
            // Not a ServiceLoader provider: no public no-arg constructor, not public.
            (
                "c/NoDefault.class",
                class(
                    "c/NoDefault",
                    PUBLIC,
                    "java/lang/Object",
                    &[converter],
                    false,
                ),
            ),
            (
                "c/Hidden.class",
                class("c/Hidden", 0, "java/lang/Object", &[converter], true),
            ),
            // Already in the jar's own manifest.
            ("s/Pg.class", class("s/Pg", PUBLIC, source, &[], true)),
            (
                "META-INF/services/org.apache.kafka.connect.source.SourceConnector",
                b"# ours\ns.Pg\n".to_vec(),
            ),
        ]);
        let missing = scan(&[&jar]).missing;
        assert_eq!(
            missing,
            BTreeMap::from([(
                "org.apache.kafka.connect.storage.Converter".to_string(),
                BTreeSet::from(["c.AvroConverter".to_string(), "c.Direct".to_string()])
            )])
        );
        let bytes = super::jar(&missing);
        assert_eq!(bytes, super::jar(&missing), "deterministic");
        let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).expect("a jar");
        let mut text = String::new();
        archive
            .by_name("META-INF/services/org.apache.kafka.connect.storage.Converter")
            .expect("the manifest")
            .read_to_string(&mut text)
            .expect("text");
        assert_eq!(text, "c.AvroConverter\nc.Direct\n");
    }
}
