//! kafka-python 3.x (the classroom's client) with SASL: PLAIN and SCRAM-SHA-256 over
//! SASL_PLAINTEXT, SCRAM-SHA-512 over SASL_SSL with the test CA, each producing ten
//! records and reading them back; a wrong password is refused.

use minikafka_broker::config::{ClientAuth, SecurityProtocol};
use minikafka_testkit::external::{output, python, python_script, run};
use minikafka_testkit::security::{self, TestCa, PASSWORD, USER};
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafka_python_round_trips_over_sasl_and_a_wrong_password_is_refused() {
    let Some(python) = python() else {
        return;
    };
    let ca = TestCa::new();
    let broker = security::secured_broker(&ca, ClientAuth::None).await;
    let script = python_script("kafka_python_sasl.py");
    let sasl_plaintext = security::addr(&broker, SecurityProtocol::SaslPlaintext).to_string();
    let sasl_ssl = security::addr(&broker, SecurityProtocol::SaslSsl).to_string();
    let ca_pem = ca.ca_pem().display().to_string();
    let cases = [
        (&sasl_plaintext, "SASL_PLAINTEXT", "PLAIN", None),
        (&sasl_plaintext, "SASL_PLAINTEXT", "SCRAM-SHA-256", None),
        (&sasl_ssl, "SASL_SSL", "SCRAM-SHA-512", Some(&ca_pem)),
    ];
    for (i, (bootstrap, protocol, mechanism, cafile)) in cases.into_iter().enumerate() {
        let topic = format!("py-sasl-{i}");
        let mut cmd = Command::new(&python);
        cmd.arg(&script).args([
            bootstrap.as_str(),
            &topic,
            protocol,
            mechanism,
            USER,
            PASSWORD,
        ]);
        if let Some(cafile) = cafile {
            cmd.arg(cafile);
        }
        let out = run(&mut cmd).await;
        let (mut sent, mut got) = (Vec::new(), Vec::new());
        for line in out.lines() {
            let v: serde_json::Value = serde_json::from_str(line).expect("JSON lines");
            if let Some(i) = v.get("sent") {
                sent.push((
                    i.as_i64().expect("id"),
                    v["offset"].as_i64().expect("offset"),
                ));
            } else if let Some(i) = v.get("got") {
                got.push((
                    i.as_i64().expect("id"),
                    v["offset"].as_i64().expect("offset"),
                ));
            }
        }
        let want: Vec<(i64, i64)> = (0..10).map(|i| (i, i)).collect();
        assert_eq!(sent, want, "{protocol} {mechanism}: delivered\n{out}");
        assert_eq!(got, want, "{protocol} {mechanism}: read back\n{out}");
    }

    let out = output(Command::new(&python).arg(&script).args([
        sasl_plaintext.as_str(),
        "py-sasl-refused",
        "SASL_PLAINTEXT",
        "PLAIN",
        USER,
        "wrong",
    ]))
    .await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(2),
        "refused:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("error"), "{stdout}");
    broker.stop().await;
}
