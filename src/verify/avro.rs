//! Confluent-framed Avro (a zero byte, the schema id as four big-endian bytes, then the Avro
//! datum) decoded with the schema the registry holds under that id, through its Confluent API
//! (`GET /schemas/ids/{id}`, `GET /subjects/{subject}/versions`).

use std::collections::BTreeMap;
use std::time::Duration;

use apache_avro::Schema;
use apache_avro::reader::datum::GenericDatumReader;
use serde_json::Value;

pub struct Registry {
    base: String,
    agent: ureq::Agent,
    schemas: BTreeMap<u32, Schema>,
}

impl Registry {
    pub fn new(base: &str) -> Self {
        let agent = crate::http::agent(crate::http::Timeouts {
            global: Some(Duration::from_secs(10)),
            ..Default::default()
        });
        Registry {
            base: base.trim_end_matches('/').to_string(),
            agent,
            schemas: BTreeMap::new(),
        }
    }

    fn get(&self, path: &str) -> Result<(u16, Value), String> {
        let url = format!("{}{path}", self.base);
        let response = self
            .agent
            .get(&url)
            .call()
            .map_err(crate::http::unreachable(format!(
                "the schema registry at {}",
                self.base
            )))
            .map_err(|e| e.to_string())?;
        let status = response.status().as_u16();
        let text = response.into_body().read_to_string().unwrap_or_default();
        Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
    }

    /// The versions registered under `subject`; `None` when the subject does not exist (40401).
    pub fn versions(&self, subject: &str) -> Result<Option<Vec<u64>>, String> {
        match self.get(&format!("/subjects/{subject}/versions"))? {
            (200, Value::Array(versions)) => {
                Ok(Some(versions.iter().filter_map(Value::as_u64).collect()))
            }
            (404, _) => Ok(None),
            (status, body) => Err(format!(
                "the schema registry answered {status} for subject {subject}: {}",
                body["message"].as_str().unwrap_or_default()
            )),
        }
    }

    /// The schema registered under a global id.
    pub fn schema(&mut self, id: u32) -> Result<&Schema, String> {
        if !self.schemas.contains_key(&id) {
            let (status, body) = self.get(&format!("/schemas/ids/{id}"))?;
            let text = match (status, body["schema"].as_str()) {
                (200, Some(text)) => text.to_string(),
                _ => {
                    return Err(format!(
                        "the schema registry has no schema with id {id} ({status}: {})",
                        body["message"].as_str().unwrap_or_default()
                    ));
                }
            };
            let schema = Schema::parse_str(&text)
                .map_err(|e| format!("the registry's schema {id} is not valid Avro: {e}"))?;
            self.schemas.insert(id, schema);
        }
        Ok(&self.schemas[&id])
    }

    /// Decodes one Confluent-framed Avro message: the schema id and the datum as JSON.
    pub fn decode(&mut self, bytes: &[u8]) -> Result<(u32, Value), String> {
        let (id, mut datum) = frame(bytes)?;
        let schema = self.schema(id)?;
        let value = GenericDatumReader::builder(schema)
            .build()
            .and_then(|reader| reader.read_value(&mut datum))
            .map_err(|e| format!("cannot decode the record with schema {id}: {e}"))?;
        let json = Value::try_from(value)
            .map_err(|e| format!("cannot show the record decoded with schema {id}: {e}"))?;
        Ok((id, json))
    }
}

/// The schema id and the datum of a Confluent-framed message.
pub fn frame(bytes: &[u8]) -> Result<(u32, &[u8]), String> {
    match bytes {
        [0, a, b, c, d, rest @ ..] => Ok((u32::from_be_bytes([*a, *b, *c, *d]), rest)),
        [] => Err("the record is empty, not Confluent-framed Avro".into()),
        [magic, ..] => Err(format!(
            "the record starts with byte {magic}, not Confluent-framed Avro (magic byte 0): is the connector's converter the Avro converter?"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_carry_a_schema_id() {
        assert_eq!(frame(&[0, 0, 0, 1, 2, 9, 9]), Ok((258, &[9u8, 9][..])));
        assert!(frame(b"{\"json\":1}").unwrap_err().contains("magic byte 0"));
        assert!(frame(&[]).is_err());
    }
}
