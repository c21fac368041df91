//! Reading a topic from where the tool runs, with librdkafka (`rdkafka`, the client the field
//! uses). The bootstrap address must reach a listener that advertises addresses reachable from
//! here (a broker's host listener, `localhost:9092` on the local stack).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rdkafka::client::ClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::{Message, Offset, TopicPartitionList};

struct Quiet;

impl ClientContext for Quiet {
    // librdkafka's own log lines would interleave with the report; errors surface as results.
    fn log(&self, _level: RDKafkaLogLevel, _fac: &str, _message: &str) {}
}

impl ConsumerContext for Quiet {}

/// A record as read: where it sat and its raw key and value (`None`: a tombstone).
#[derive(Debug, Clone)]
pub struct Record {
    pub partition: i32,
    pub offset: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// Where reading starts in the partitions that exist when the consumer opens (partitions that
/// appear later are read from their start).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At their end: only what is written afterwards.
    End,
    Beginning,
}

/// A consumer of one topic. No consumer group: partitions are assigned directly, which also
/// avoids waiting for a group to form.
pub struct Tail {
    consumer: BaseConsumer<Quiet>,
    topic: String,
    /// Partitions seen so far, with the offset reading started at.
    partitions: BTreeMap<i32, i64>,
}

const CALL: Duration = Duration::from_secs(5);

impl Tail {
    pub fn open(bootstrap: &str, topic: &str, start: Start) -> Result<Self, String> {
        let consumer: BaseConsumer<Quiet> = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("group.id", "deploy-verify")
            .set("enable.auto.commit", "false")
            .set("enable.partition.eof", "false")
            .set("socket.timeout.ms", "10000")
            .create_with_context(Quiet)
            .map_err(|e| format!("cannot create a Kafka client: {e}"))?;
        let mut tail = Tail {
            consumer,
            topic: topic.to_string(),
            partitions: BTreeMap::new(),
        };
        tail.follow_new_partitions(start == Start::Beginning)?;
        Ok(tail)
    }

    /// Assigns partitions not seen before, at their start or their current end.
    fn follow_new_partitions(&mut self, from_start: bool) -> Result<(), String> {
        let metadata = self
            .consumer
            .fetch_metadata(Some(&self.topic), CALL)
            .map_err(|e| format!("cannot read the metadata of topic {}: {e}", self.topic))?;
        let Some(topic) = metadata.topics().iter().find(|t| t.name() == self.topic) else {
            return Ok(());
        };
        if topic.error().is_some() {
            // Not created yet.
            return Ok(());
        }
        let mut added = false;
        for partition in topic.partitions() {
            let id = partition.id();
            if self.partitions.contains_key(&id) {
                continue;
            }
            let start = if from_start {
                0
            } else {
                self.consumer
                    .fetch_watermarks(&self.topic, id, CALL)
                    .map_err(|e| format!("cannot read the end of {}/{id}: {e}", self.topic))?
                    .1
            };
            self.partitions.insert(id, start);
            added = true;
        }
        if added {
            let mut list = TopicPartitionList::new();
            for (id, start) in &self.partitions {
                list.add_partition_offset(&self.topic, *id, Offset::Offset(*start))
                    .map_err(|e| format!("cannot assign {}/{id}: {e}", self.topic))?;
            }
            self.consumer
                .assign(&list)
                .map_err(|e| format!("cannot assign topic {}: {e}", self.topic))?;
        }
        Ok(())
    }

    /// Polls until `wanted` accepts a record or `deadline` passes: `Ok(None)`, or the last error
    /// when reading failed (librdkafka reconnects on its own, so errors are retried until then).
    pub fn until(
        &mut self,
        deadline: Instant,
        mut wanted: impl FnMut(&Record) -> bool,
    ) -> Result<Option<Record>, String> {
        let mut checked = Instant::now();
        let mut last_error = None;
        while Instant::now() < deadline {
            if self.partitions.is_empty() || checked.elapsed() > Duration::from_secs(1) {
                if let Err(e) = self.follow_new_partitions(true) {
                    last_error = Some(e);
                }
                checked = Instant::now();
            }
            match self.consumer.poll(Duration::from_millis(100)) {
                None => {}
                Some(Err(e)) => last_error = Some(format!("reading topic {}: {e}", self.topic)),
                Some(Ok(message)) => {
                    last_error = None;
                    let record = Record {
                        partition: message.partition(),
                        offset: message.offset(),
                        key: message.key().map(<[u8]>::to_vec),
                        value: message.payload().map(<[u8]>::to_vec),
                    };
                    if wanted(&record) {
                        return Ok(Some(record));
                    }
                }
            }
        }
        last_error.map_or(Ok(None), Err)
    }
}
