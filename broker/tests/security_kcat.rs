//! kcat (Debian's, on librdkafka 2.0.2, an old client) against the broker's own TLS and
//! SASL: produce and read back over SASL_SSL with SCRAM-SHA-256 and SCRAM-SHA-512, and
//! over SASL_PLAINTEXT with PLAIN. librdkafka 2.0 checks that ApiVersions lists
//! SaslHandshake v0 before it tries SCRAM; this is the test that keeps it listed.

use minikafka_broker::config::{ClientAuth, SecurityProtocol};
use minikafka_testkit::external::{kcat, output, run};
use minikafka_testkit::security::{self, TestCa, PASSWORD, USER};
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kcat_produces_and_reads_back_over_sasl_ssl_and_sasl_plaintext() {
    let Some(kcat) = kcat() else { return };
    let ca = TestCa::new();
    let broker = security::secured_broker(&ca, ClientAuth::None).await;
    let sasl_ssl = security::addr(&broker, SecurityProtocol::SaslSsl).to_string();
    let sasl_plaintext = security::addr(&broker, SecurityProtocol::SaslPlaintext).to_string();
    let ca_pem = ca.ca_pem().display().to_string();
    let cases = [
        (&sasl_ssl, "SASL_SSL", "SCRAM-SHA-256"),
        (&sasl_ssl, "SASL_SSL", "SCRAM-SHA-512"),
        (&sasl_plaintext, "SASL_PLAINTEXT", "PLAIN"),
    ];
    for (i, (bootstrap, protocol, mechanism)) in cases.into_iter().enumerate() {
        let topic = format!("kcat-sec-{i}");
        let settings = |cmd: &mut Command| {
            cmd.args(["-b", bootstrap.as_str()])
                .args(["-X", &format!("security.protocol={protocol}")])
                .args(["-X", &format!("sasl.mechanisms={mechanism}")])
                .args(["-X", &format!("sasl.username={USER}")])
                .args(["-X", &format!("sasl.password={PASSWORD}")])
                .args(["-X", &format!("ssl.ca.location={ca_pem}")]);
        };
        let input = broker.data_dir().join(format!("input-{i}.txt"));
        std::fs::write(&input, "k:one\nk:two\nk:three\n").expect("write input");
        let mut produce = Command::new(&kcat);
        settings(&mut produce);
        run(produce
            .args(["-t", &topic, "-P", "-K:", "-p", "0", "-l"])
            .arg(&input))
        .await;
        let mut consume = Command::new(&kcat);
        settings(&mut consume);
        let out = run(consume
            .args(["-t", &topic, "-C", "-e", "-o", "beginning"])
            .args(["-f", "%k=%s@%o\n"]))
        .await;
        assert_eq!(
            out, "k=one@0\nk=two@1\nk=three@2\n",
            "{protocol} {mechanism}"
        );
    }

    // A wrong password: kcat fails, saying why.
    let out = output(Command::new(&kcat).args([
        "-b",
        &sasl_plaintext,
        "-X",
        "security.protocol=SASL_PLAINTEXT",
        "-X",
        "sasl.mechanisms=SCRAM-SHA-256",
        "-X",
        "sasl.username=alice",
        "-X",
        "sasl.password=wrong",
        "-L",
        "-m",
        "5",
    ]))
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains("Authentication failed"), "{stderr}");
    broker.stop().await;
}
