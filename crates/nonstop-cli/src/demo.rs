pub(crate) async fn run(_secs: u64, _rate: f64) -> anyhow::Result<()> {
    anyhow::bail!("demo not built yet")
}
