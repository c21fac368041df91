//! Pulling images, with progress on stderr: before `up` plans, every image whose pull policy
//! is `always` (so the plan sees what it brings); after, the missing images the program needs.

use std::collections::{BTreeSet, HashMap};
use std::time::{Duration, Instant};

use bollard::Docker;
use bollard::query_parameters::CreateImageOptionsBuilder;
use futures::StreamExt;
use futures::future::try_join_all;

use crate::error::Error;
use crate::model::{Environment, PullPolicy};
use crate::output::Printer;

/// Pulls the images of every service whose policy is `always`.
pub(super) async fn pull_always(
    docker: &Docker,
    env: &Environment,
    printer: &Printer,
) -> Result<(), Error> {
    let images: BTreeSet<&str> = env
        .services
        .iter()
        .filter(|s| s.pull == PullPolicy::Always)
        .map(|s| s.image.as_str())
        .collect();
    pull_all(docker, images, printer).await
}

/// Pulls these images side by side.
pub(super) async fn pull_all<'a>(
    docker: &Docker,
    images: impl IntoIterator<Item = &'a str>,
    printer: &Printer,
) -> Result<(), Error> {
    try_join_all(images.into_iter().map(|image| pull(docker, image, printer))).await?;
    Ok(())
}

/// Pulls the whole-image progress into one line per image, at most every two seconds.
async fn pull(docker: &Docker, image: &str, printer: &Printer) -> Result<(), Error> {
    let (name, tag) = split_reference(image);
    let options = CreateImageOptionsBuilder::new()
        .from_image(name)
        .tag(tag)
        .build();
    let mut stream = docker.create_image(Some(options), None, None);
    printer.status(&format!("pulling {image}"));
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut layers: HashMap<String, (i64, i64)> = HashMap::new();
    while let Some(item) = stream.next().await {
        let info = item.map_err(|e| {
            Error::user(format!("cannot pull image `{image}`: {e}"))
                .with_hint("check the image name and your registry access, or load the image and set `pull: never`")
        })?;
        if let Some(error) = info.error_detail.and_then(|d| d.message) {
            return Err(Error::user(format!("cannot pull image `{image}`: {error}")));
        }
        let detail = info.progress_detail.unwrap_or_default();
        if let (Some(id), Some(current), Some(total)) = (info.id, detail.current, detail.total) {
            layers.insert(id, (current, total));
        }
        if last_report.elapsed() > Duration::from_secs(2) && !layers.is_empty() {
            let (current, total) = layers
                .values()
                .fold((0, 0), |(c, t), (lc, lt)| (c + lc, t + lt));
            printer.status(&format!(
                "  {image}: {} of {} MB",
                current / 1_000_000,
                total.max(1) / 1_000_000
            ));
            last_report = Instant::now();
        }
    }
    printer.status(&format!(
        "pulled {image} in {:.1}s",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}

/// `repo[:tag]` or `repo@digest`; the tag defaults to `latest`.
fn split_reference(image: &str) -> (&str, &str) {
    if let Some((name, digest)) = image.split_once('@') {
        return (name, digest);
    }
    match image.rsplit_once(':') {
        Some((name, tag)) if !tag.contains('/') => (name, tag),
        _ => (image, "latest"),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn references() {
        assert_eq!(super::split_reference("postgres:17"), ("postgres", "17"));
        assert_eq!(
            super::split_reference("localhost:5000/x"),
            ("localhost:5000/x", "latest")
        );
        assert_eq!(
            super::split_reference("ghcr.io/kafbat/kafka-ui:v1.4.2"),
            ("ghcr.io/kafbat/kafka-ui", "v1.4.2")
        );
    }
}
