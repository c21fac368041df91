//! MSK Connect's documented rules that an environment file can break, checked where the file is
//! read so the error names its line. "Supported worker configuration properties"
//! (docs.aws.amazon.com/msk/latest/developerguide/msk-connect-supported-worker-config-properties.html):
//! of the `producer.` and `consumer.` keys only those listed, and none under the listed
//! prefixes; the custom plugin page: Kafka Connect 2.7.1 or 3.7.x.

/// The newest Kafka Connect MSK Connect runs (on Java 17): the default.
pub(crate) const NEWEST: &str = "3.7.x";
pub(crate) const KAFKA_CONNECT_VERSIONS: [&str; 2] = ["2.7.1", NEWEST];

const PRODUCER: [&str; 16] = [
    "acks",
    "batch.size",
    "buffer.memory",
    "compression.type",
    "enable.idempotence",
    "key.serializer",
    "linger.ms",
    "max.request.size",
    "metadata.max.age.ms",
    "metadata.max.idle.ms",
    "partitioner.class",
    "reconnect.backoff.max.ms",
    "reconnect.backoff.ms",
    "request.timeout.ms",
    "retry.backoff.ms",
    "value.serializer",
];

const CONSUMER: [&str; 19] = [
    "allow.auto.create.topics",
    "auto.offset.reset",
    "check.crcs",
    "fetch.max.bytes",
    "fetch.max.wait.ms",
    "fetch.min.bytes",
    "heartbeat.interval.ms",
    "key.deserializer",
    "max.partition.fetch.bytes",
    "max.poll.interval.ms",
    "max.poll.records",
    "metadata.max.age.ms",
    "partition.assignment.strategy",
    "reconnect.backoff.max.ms",
    "reconnect.backoff.ms",
    "request.timeout.ms",
    "retry.backoff.ms",
    "session.timeout.ms",
    "value.deserializer",
];

/// Prefixes MSK Connect keeps for itself: the cluster connection, security, REST and internals.
const REFUSED_PREFIXES: [&str; 11] = [
    "access.control.",
    "admin.",
    "client.",
    "connect.",
    "inter.worker.",
    "internal.",
    "listeners.https.",
    "metrics.",
    "rest.",
    "sasl.",
    "security.",
];

/// Why MSK Connect refuses a worker property, if it does.
pub(crate) fn refused_worker_key(key: &str) -> Option<String> {
    if let Some(rest) = key.strip_prefix("producer.") {
        return (!PRODUCER.contains(&rest)).then(|| {
            format!(
                "MSK Connect accepts only these producer. keys: {}",
                PRODUCER.join(", ")
            )
        });
    }
    if let Some(rest) = key.strip_prefix("consumer.") {
        return (!CONSUMER.contains(&rest)).then(|| {
            format!(
                "MSK Connect accepts only these consumer. keys: {}",
                CONSUMER.join(", ")
            )
        });
    }
    REFUSED_PREFIXES
        .iter()
        .find(|p| key.starts_with(**p))
        .map(|p| {
            format!(
                "MSK Connect sets the `{p}` keys itself and refuses them in a worker configuration"
            )
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worker_keys_as_msk_connect_documents_them() {
        assert!(refused_worker_key("offset.flush.interval.ms").is_none());
        assert!(refused_worker_key("producer.linger.ms").is_none());
        assert!(refused_worker_key("consumer.max.poll.records").is_none());
        assert!(refused_worker_key("producer.security.protocol").is_some());
        assert!(refused_worker_key("rest.advertised.host.name").is_some());
        assert!(refused_worker_key("sasl.mechanism").is_some());
    }
}
