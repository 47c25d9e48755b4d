mod common;
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scratch() {
    let cluster = common::Cluster::start().await;
    let script = std::env::var("SCRATCH").unwrap();
    for cmd in script.split(" ;; ") {
        let args: Vec<&str> = cmd
            .split_whitespace()
            .map(|a| {
                if a.starts_with("@") {
                    Box::leak(
                        common::fixture(&a[1..])
                            .to_str()
                            .unwrap()
                            .to_string()
                            .into_boxed_str(),
                    ) as &str
                } else {
                    a
                }
            })
            .collect();
        let out = cluster.kubectl(&args).await;
        println!(
            "$ kubectl {cmd}\n--- stdout\n{}\n--- stderr\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
