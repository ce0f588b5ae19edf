//! The notifiers against mocked SDK clients (aws-smithy-mocks): what moto cannot show.
//! The requests built (SMS attributes moto does not record), and the classification of
//! throttling, 5xx and invalid-parameter answers as the services really send them (HTTP
//! responses, deserialised by the SDK).

mod support;

use aws_sdk_sesv2::operation::send_email::SendEmailOutput;
use aws_sdk_sns::operation::list_phone_numbers_opted_out::ListPhoneNumbersOptedOutOutput;
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_smithy_mocks::{mock, Rule, RuleMode};
use medicare_aws::{EmailOptions, SesEmailNotifier, SmsOptions, SmsType, SnsSmsNotifier};
use medicare_core::notify::conformance::{
    accepts_messages_with_distinct_ids, refuses_permanently_without_personal_data, sample_message,
};
use medicare_core::notify::{Channel, Notifier, NotifyError};
use std::sync::Arc;
use std::time::Duration;
use support::{ses_error, ses_mock, sns_error, sns_mock};

/// What a test expects of an error.
type Check = fn(&NotifyError) -> bool;

const NUMBER: &str = "+447700900123";
const ADDRESS: &str = "patient@example.org";

fn attribute(req: &aws_sdk_sns::operation::publish::PublishInput, name: &str) -> Option<String> {
    let value = req.message_attributes()?.get(name)?;
    assert_eq!(value.data_type(), "String", "{name}");
    value.string_value().map(str::to_string)
}

#[tokio::test]
async fn sms_requests_carry_the_type_and_sender_id() {
    let rule = mock!(aws_sdk_sns::Client::publish)
        .match_requests(|req| {
            req.phone_number() == Some(NUMBER)
                && req.topic_arn().is_none()
                && req
                    .message()
                    .is_some_and(|m| m.starts_with("medicare conformance message"))
                && attribute(req, "AWS.SNS.SMS.SMSType").as_deref() == Some("Transactional")
                && attribute(req, "AWS.SNS.SMS.SenderID").as_deref() == Some("MediCARE")
        })
        .then_compute_output(|req| {
            PublishOutput::builder()
                .message_id(format!("id-{}", req.message().unwrap().len()))
                .build()
        });
    let notifier = SnsSmsNotifier::from_client(
        sns_mock(RuleMode::MatchAny, &[&rule]),
        SmsOptions {
            sender_id: Some("MediCARE".into()),
            sms_type: SmsType::Transactional,
        },
    )
    .unwrap();
    let id = notifier
        .send(&sample_message(Channel::Sms, NUMBER, 7))
        .await
        .unwrap();
    assert!(id.starts_with("id-"));
    assert_eq!(rule.num_calls(), 1);

    // Promotional, without a sender ID: no SenderID attribute at all.
    let rule = mock!(aws_sdk_sns::Client::publish)
        .match_requests(|req| {
            attribute(req, "AWS.SNS.SMS.SMSType").as_deref() == Some("Promotional")
                && req
                    .message_attributes()
                    .is_some_and(|a| !a.contains_key("AWS.SNS.SMS.SenderID"))
        })
        .then_output(|| PublishOutput::builder().message_id("m").build());
    let notifier = SnsSmsNotifier::from_client(
        sns_mock(RuleMode::MatchAny, &[&rule]),
        SmsOptions {
            sender_id: None,
            sms_type: SmsType::Promotional,
        },
    )
    .unwrap();
    notifier
        .send(&sample_message(Channel::Sms, NUMBER, 8))
        .await
        .unwrap();
    assert_eq!(rule.num_calls(), 1);
}

#[tokio::test]
async fn sns_answers_are_classified_and_never_retried_by_the_sdk() {
    let cases: [(u16, &str, Option<&str>, Check); 4] = [
        (400, "Throttling", None, |e| {
            matches!(
                e,
                NotifyError::Throttled {
                    retry_after: None,
                    ..
                }
            )
        }),
        (
            429,
            "TooManyRequests",
            Some("2"),
            |e| matches!(e, NotifyError::Throttled { retry_after: Some(d), .. } if *d == Duration::from_secs(2)),
        ),
        (500, "InternalError", None, |e| {
            matches!(e, NotifyError::Transient { .. })
        }),
        (400, "InvalidParameter", None, |e| {
            matches!(e, NotifyError::Permanent { .. })
        }),
    ];
    for (status, code, retry_after, expected) in cases {
        let rule = mock!(aws_sdk_sns::Client::publish)
            .then_http_response(move || sns_error(status, code, retry_after, NUMBER));
        let notifier = SnsSmsNotifier::from_client(
            sns_mock(RuleMode::MatchAny, &[&rule]),
            SmsOptions::default(),
        )
        .unwrap();
        let message = sample_message(Channel::Sms, NUMBER, 1);
        let err = notifier.send(&message).await.unwrap_err();
        assert!(expected(&err), "{status} {code}: {err:?}");
        let reason = err.to_string();
        assert!(
            reason.contains(code) && reason.contains(&status.to_string()),
            "{reason}"
        );
        // The AWS message echoed the number; it is never carried.
        assert!(
            !reason.contains(NUMBER) && !reason.contains("conformance"),
            "{reason}"
        );
        assert_eq!(
            rule.num_calls(),
            1,
            "one attempt: the engine retries, not the SDK"
        );
    }
}

#[tokio::test]
async fn ses_answers_are_classified_and_never_retried_by_the_sdk() {
    let cases: [(u16, &str, Check); 4] = [
        (429, "TooManyRequestsException", |e| {
            matches!(e, NotifyError::Throttled { .. })
        }),
        (503, "ServiceUnavailable", |e| {
            matches!(e, NotifyError::Transient { .. })
        }),
        (400, "BadRequestException", |e| {
            matches!(e, NotifyError::Permanent { .. })
        }),
        (400, "MessageRejected", |e| {
            matches!(e, NotifyError::Permanent { .. })
        }),
    ];
    for (status, code, expected) in cases {
        let rule = mock!(aws_sdk_sesv2::Client::send_email)
            .then_http_response(move || ses_error(status, code, ADDRESS));
        let notifier = SesEmailNotifier::from_client(
            ses_mock(RuleMode::MatchAny, &[&rule]),
            support::email_options(),
        )
        .unwrap();
        let err = notifier
            .send(&sample_message(Channel::Email, ADDRESS, 1))
            .await
            .unwrap_err();
        assert!(expected(&err), "{status} {code}: {err:?}");
        assert!(err.to_string().contains(code), "{err}");
        assert!(!err.to_string().contains(ADDRESS), "{err}");
        assert_eq!(rule.num_calls(), 1);
    }
}

#[tokio::test]
async fn emails_are_simple_utf8_content_to_one_recipient() {
    let rule = mock!(aws_sdk_sesv2::Client::send_email)
        .match_requests(|req| {
            let simple = req.content().and_then(|c| c.simple());
            let to = req.destination().map(|d| d.to_addresses());
            let utf8 = |c: Option<&aws_sdk_sesv2::types::Content>| {
                c.is_some_and(|c| c.charset() == Some("UTF-8") && c.data().contains("conformance"))
            };
            req.from_email_address() == Some("MediCARE <flu@example.org>")
                && req.configuration_set_name() == Some("medicare")
                && to == Some(&[ADDRESS.to_string()][..])
                && simple.is_some_and(|m| {
                    utf8(m.subject())
                        && utf8(m.body().and_then(|b| b.text()))
                        && utf8(m.body().and_then(|b| b.html()))
                })
        })
        .then_output(|| SendEmailOutput::builder().message_id("ses-1").build());
    let notifier = SesEmailNotifier::from_client(
        ses_mock(RuleMode::MatchAny, &[&rule]),
        EmailOptions {
            from: "MediCARE <flu@example.org>".into(),
            configuration_set: Some("medicare".into()),
        },
    )
    .unwrap();
    let id = notifier
        .send(&sample_message(Channel::Email, ADDRESS, 3))
        .await
        .unwrap();
    assert_eq!(id, "ses-1");
    assert_eq!(rule.num_calls(), 1);
    assert!(SesEmailNotifier::from_client(
        ses_mock(RuleMode::MatchAny, &[&rule]),
        EmailOptions {
            from: "not an address".into(),
            configuration_set: None
        },
    )
    .is_err());
}

fn opted_out_pages() -> Rule {
    mock!(aws_sdk_sns::Client::list_phone_numbers_opted_out).then_compute_output(|req| {
        match req.next_token() {
            None => ListPhoneNumbersOptedOutOutput::builder()
                .phone_numbers("+447700900001")
                .phone_numbers("+447700900002")
                .next_token("page-2")
                .build(),
            Some("page-2") => ListPhoneNumbersOptedOutOutput::builder()
                .phone_numbers("+447700900003")
                .build(),
            Some(other) => panic!("unexpected token {other}"),
        }
    })
}

#[tokio::test]
async fn the_opted_out_list_is_paged_and_checked_before_publishing() {
    let pages = opted_out_pages();
    let publish = mock!(aws_sdk_sns::Client::publish)
        .then_output(|| PublishOutput::builder().message_id("ok").build());
    let notifier = SnsSmsNotifier::from_client(
        sns_mock(RuleMode::MatchAny, &[&pages, &publish]),
        SmsOptions::default(),
    )
    .unwrap();
    assert_eq!(notifier.sync_opted_out().await.unwrap(), 3);
    assert_eq!(pages.num_calls(), 2, "both pages were read");
    assert!(format!("{notifier:?}").contains("opted_out: 3"));
    assert!(!format!("{notifier:?}").contains("+4477"));
    for number in ["+447700900001", "+447700900003"] {
        let err = refuses_permanently_without_personal_data(
            &notifier,
            &sample_message(Channel::Sms, number, 1),
        )
        .await;
        assert!(err.to_string().contains("opted out"), "{err}");
    }
    assert_eq!(
        publish.num_calls(),
        0,
        "an opted-out number is never published to"
    );
    notifier
        .send(&sample_message(Channel::Sms, "+447700900004", 2))
        .await
        .unwrap();
    assert_eq!(publish.num_calls(), 1);
}

/// Building the notifier calls nothing (so `campaign status` never reaches SNS); the
/// first message loads the opted-out list once, however many wait for it; a failed load
/// fails that message as a retryable error and the next message tries again.
#[tokio::test]
async fn the_opted_out_list_is_loaded_by_the_first_message_once() {
    let pages = opted_out_pages();
    let publish = mock!(aws_sdk_sns::Client::publish)
        .then_output(|| PublishOutput::builder().message_id("ok").build());
    let notifier = Arc::new(
        SnsSmsNotifier::from_client(
            sns_mock(RuleMode::MatchAny, &[&pages, &publish]),
            SmsOptions::default(),
        )
        .unwrap(),
    );
    assert_eq!(pages.num_calls(), 0, "building the notifier calls nothing");
    let sends = (0..20).map(|i| {
        let notifier = notifier.clone();
        async move {
            notifier
                .send(&sample_message(Channel::Sms, "+447700900010", i))
                .await
        }
    });
    for sent in futures::future::join_all(sends).await {
        sent.unwrap();
    }
    assert_eq!(
        pages.num_calls(),
        2,
        "one load of both pages for 20 messages"
    );
    assert_eq!(notifier.opted_out_count(), 3);
    let err = notifier
        .send(&sample_message(Channel::Sms, "+447700900002", 21))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("opted out"), "{err}");
    assert_eq!(publish.num_calls(), 20);
    assert_eq!(pages.num_calls(), 2, "still the one load");

    // The first load fails (HTTP 500), the second succeeds.
    let flaky = mock!(aws_sdk_sns::Client::list_phone_numbers_opted_out)
        .sequence()
        .http_response(|| sns_error(500, "InternalError", None, NUMBER))
        .output(|| ListPhoneNumbersOptedOutOutput::builder().build())
        .repeatedly()
        .build();
    let publish = mock!(aws_sdk_sns::Client::publish)
        .then_output(|| PublishOutput::builder().message_id("ok").build());
    let notifier = SnsSmsNotifier::from_client(
        sns_mock(RuleMode::MatchAny, &[&flaky, &publish]),
        SmsOptions::default(),
    )
    .unwrap();
    let err = notifier
        .send(&sample_message(Channel::Sms, NUMBER, 1))
        .await
        .unwrap_err();
    assert!(err.is_retryable(), "{err:?}");
    assert!(
        err.to_string().contains("ListPhoneNumbersOptedOut"),
        "{err}"
    );
    assert_eq!(publish.num_calls(), 0, "nothing is published unchecked");
    notifier
        .send(&sample_message(Channel::Sms, NUMBER, 1))
        .await
        .unwrap();
    assert_eq!(publish.num_calls(), 1);
    assert_eq!(flaky.num_calls(), 2);
}

/// SNS out of reach (a closed loopback port): one clear line, no SDK debug dump.
#[tokio::test]
async fn an_unreachable_sns_is_one_clear_line() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", closed.local_addr().unwrap());
    drop(closed);
    let loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("eu-west-2"))
        .credentials_provider(aws_credential_types::Credentials::new(
            "testing", "testing", None, None, "tests",
        ));
    let config = medicare_aws::connect::sdk_config_with(loader, Some(&url))
        .await
        .unwrap();
    let notifier = SnsSmsNotifier::new(&config, SmsOptions::default()).unwrap();
    let err = notifier.sync_opted_out().await.unwrap_err().to_string();
    let sent = notifier
        .send(&sample_message(Channel::Sms, NUMBER, 1))
        .await
        .unwrap_err();
    assert!(sent.is_retryable(), "{sent:?}");
    for line in [err, sent.to_string()] {
        assert!(line.contains("ListPhoneNumbersOptedOut"), "{line}");
        assert!(line.contains("could not be sent"), "{line}");
        assert!(!line.contains('\n'), "{line}");
        for dump in ["ConnectorError", "kind:", "source:", "{"] {
            assert!(!line.contains(dump), "{line}");
        }
    }
}

#[tokio::test]
async fn unsendable_messages_are_refused_before_calling_aws() {
    let publish = mock!(aws_sdk_sns::Client::publish)
        .then_output(|| PublishOutput::builder().message_id("ok").build());
    let sms = SnsSmsNotifier::from_client(
        sns_mock(RuleMode::MatchAny, &[&publish]),
        SmsOptions::default(),
    )
    .unwrap();
    let mut long = sample_message(Channel::Sms, NUMBER, 1);
    long.text = "x".repeat(medicare_aws::MAX_SMS_BYTES + 1);
    let err = refuses_permanently_without_personal_data(&sms, &long).await;
    assert!(err.to_string().contains("1601 bytes"), "{err}");
    // Exactly at the limit is sent; UTF-8 counts bytes, not characters.
    long.text = "x".repeat(medicare_aws::MAX_SMS_BYTES);
    sms.send(&long).await.unwrap();
    long.text = "é".repeat(801);
    refuses_permanently_without_personal_data(&sms, &long).await;
    for bad in ["07700900123", "+44 7700 900123", "patient@example.org"] {
        refuses_permanently_without_personal_data(&sms, &sample_message(Channel::Sms, bad, 2))
            .await;
    }
    refuses_permanently_without_personal_data(&sms, &sample_message(Channel::Email, NUMBER, 3))
        .await;
    assert_eq!(publish.num_calls(), 1);

    let send = mock!(aws_sdk_sesv2::Client::send_email)
        .then_output(|| SendEmailOutput::builder().message_id("ok").build());
    let email = SesEmailNotifier::from_client(
        ses_mock(RuleMode::MatchAny, &[&send]),
        support::email_options(),
    )
    .unwrap();
    for bad in [
        "patient",
        "patient@example.org\r\nBcc: x@example.org",
        "+447700900123",
    ] {
        refuses_permanently_without_personal_data(&email, &sample_message(Channel::Email, bad, 4))
            .await;
    }
    let mut no_subject = sample_message(Channel::Email, ADDRESS, 5);
    no_subject.subject = None;
    refuses_permanently_without_personal_data(&email, &no_subject).await;
    assert_eq!(send.num_calls(), 0);
}

#[tokio::test]
async fn mocked_notifiers_pass_the_conformance_suite() {
    let publish = mock!(aws_sdk_sns::Client::publish).then_compute_output(|req| {
        PublishOutput::builder()
            .message_id(format!("sns-{}", req.message().unwrap()))
            .build()
    });
    let sms = SnsSmsNotifier::from_client(
        sns_mock(RuleMode::MatchAny, &[&publish]),
        SmsOptions::default(),
    )
    .unwrap();
    accepts_messages_with_distinct_ids(Arc::new(sms), Channel::Sms, NUMBER, 1).await;
    assert_eq!(publish.num_calls(), 3);
    let send = mock!(aws_sdk_sesv2::Client::send_email).then_compute_output(|req| {
        let subject = req
            .content()
            .unwrap()
            .simple()
            .unwrap()
            .subject()
            .unwrap()
            .data();
        SendEmailOutput::builder()
            .message_id(format!("ses-{subject}"))
            .build()
    });
    let email = SesEmailNotifier::from_client(
        ses_mock(RuleMode::MatchAny, &[&send]),
        support::email_options(),
    )
    .unwrap();
    accepts_messages_with_distinct_ids(Arc::new(email), Channel::Email, ADDRESS, 1).await;
    assert_eq!(send.num_calls(), 3);
}
