//! kafkajs 2 (Node.js) with SASL: PLAIN over SASL_PLAINTEXT, SCRAM-SHA-256 and
//! SCRAM-SHA-512 over SASL_SSL (its own TLS stack, Node's), producing and reading back in
//! a group; a wrong password is refused with the broker's reason.

use minikafka_broker::config::{ClientAuth, SecurityProtocol};
use minikafka_testkit::external::{kafkajs, node_script, run};
use minikafka_testkit::security::{self, TestCa, PASSWORD, USER};
use serde_json::Value;
use tokio::process::Command;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kafkajs_round_trips_over_sasl_and_a_wrong_password_is_refused() {
    let Some((node, modules)) = kafkajs() else {
        return;
    };
    let ca = TestCa::new();
    let broker = security::secured_broker(&ca, ClientAuth::None).await;
    let sasl_ssl = security::addr(&broker, SecurityProtocol::SaslSsl).to_string();
    let sasl_plaintext = security::addr(&broker, SecurityProtocol::SaslPlaintext).to_string();
    let ca_pem = ca.ca_pem().display().to_string();
    let script = node_script("kafkajs_sasl.js");
    let cases = [
        (&sasl_plaintext, "plain", PASSWORD, None),
        (&sasl_ssl, "scram-sha-256", PASSWORD, Some(&ca_pem)),
        (&sasl_ssl, "scram-sha-512", PASSWORD, Some(&ca_pem)),
        (&sasl_plaintext, "scram-sha-256", "wrong", None),
    ];
    for (bootstrap, mechanism, password, cafile) in cases {
        let mut cmd = Command::new(&node);
        cmd.env("NODE_PATH", &modules).arg(&script).args([
            bootstrap.as_str(),
            mechanism,
            USER,
            password,
        ]);
        if let Some(cafile) = cafile {
            cmd.arg(cafile);
        }
        let out = run(&mut cmd).await;
        let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("{e}: {out}"));
        if password == PASSWORD {
            assert_eq!(v["got"], format!("hello {mechanism}"), "{out}");
        } else {
            let reason = v["refused"].as_str().unwrap_or_default();
            assert!(reason.contains("Authentication failed"), "{out}");
        }
    }
    broker.stop().await;
}
