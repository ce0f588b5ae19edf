//! The console's rules without a browser: the wizard draft, the audience inputs and the
//! masked subset.

use super::audience::{parse_filter, AudienceDraft, AudiencePlace};
use super::draft::{
    check_field_name, parse_field_count, FieldPart, FormDraft, Place, MAX_WIZARD_FIELDS,
};
use super::subset::{age_band, subset, SubsetRow, SUBSET_ROWS};
use crate::campaign::{FormId, Strategy};
use crate::filter::Filter;
use crate::form::{Bound, FieldType, FormSpec};
use crate::notify::{Channel, Money};
use crate::patient::{generate, GenerateOptions, PatientId};
use chrono::NaiveDate;

fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
    items
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A good six-field screen 2, one field of each interesting kind.
fn six_fields() -> Vec<(String, String)> {
    pairs(&[
        ("count", "6"),
        ("form_name", "flu_2026"),
        ("title", "Register for your flu vaccination"),
        ("intro", "A few questions.\n\nIt takes two minutes."),
        ("field-1-name", "attending"),
        ("field-1-label", "Will you attend?"),
        ("field-1-type", "yes_no"),
        ("field-1-required", "yes"),
        ("field-2-name", "doses"),
        ("field-2-label", "How many doses have you had?"),
        ("field-2-type", "integer"),
        ("field-2-min", "0"),
        ("field-2-max", "10"),
        ("field-3-name", "temperature"),
        ("field-3-label", "Your temperature"),
        ("field-3-type", "decimal"),
        ("field-3-min", "35.5"),
        ("field-3-max", "42"),
        ("field-4-name", "preferred_day"),
        ("field-4-label", "Which day suits you?"),
        ("field-4-type", "date"),
        ("field-4-min", "2026-12-01"),
        ("field-5-name", "site"),
        ("field-5-label", "Where?"),
        ("field-5-type", "single_choice"),
        ("field-5-options", "Surgery\r\n  Pharmacy \n\nHome visit\n"),
        ("field-6-name", "notes"),
        ("field-6-label", "Anything else?"),
        ("field-6-type", "long_text"),
        ("field-6-max_length", "500"),
        ("field-6-pattern", "[^<>]*"),
        ("csrf", "ignored by the draft"),
    ])
}

fn errors_of(items: Vec<(String, String)>) -> Vec<super::draft::DraftError> {
    FormDraft::from_pairs(&items)
        .expect("the count is good")
        .to_spec()
        .expect_err("the draft should be refused")
}

/// Sets `key` to `value`, adding the pair when the page had not sent it.
fn set(items: &mut Vec<(String, String)>, key: &str, value: &str) {
    match items.iter_mut().find(|(k, _)| k == key) {
        Some(pair) => pair.1 = value.to_string(),
        None => items.push((key.to_string(), value.to_string())),
    }
}

#[test]
fn field_count_is_one_to_fifty() {
    assert_eq!(parse_field_count("6"), Ok(6));
    assert_eq!(parse_field_count(" 1 "), Ok(1));
    assert_eq!(parse_field_count("50"), Ok(MAX_WIZARD_FIELDS));
    for bad in [
        "",
        "0",
        "51",
        "-1",
        "6.5",
        "six",
        "1e3",
        "99999999999999999999999",
        "+6",
    ] {
        let e = parse_field_count(bad).expect_err(bad);
        assert!(e.contains("number of fields"), "{bad}: {e}");
    }
}

#[test]
fn a_good_draft_becomes_the_spec_the_toml_path_accepts() {
    let spec = FormDraft::from_pairs(&six_fields())
        .unwrap()
        .to_spec()
        .unwrap();
    assert_eq!(spec.name, "flu_2026");
    assert_eq!(spec.fields.len(), 6);
    assert!(spec.fields[0].required);
    assert_eq!(spec.fields[1].kind, FieldType::Integer);
    assert_eq!(spec.fields[1].max, Some(Bound::Integer(10)));
    assert!(matches!(spec.fields[2].min, Some(Bound::Decimal(_))));
    assert_eq!(
        spec.fields[3].min,
        Some(Bound::Date(NaiveDate::from_ymd_opt(2026, 12, 1).unwrap()))
    );
    assert_eq!(
        spec.fields[4].options,
        ["Surgery", "Pharmacy", "Home visit"]
    );
    assert_eq!(spec.fields[5].max_length, Some(500));
    // The same spec round-trips through the CLI's JSON reader unchanged.
    assert_eq!(
        FormSpec::from_json_str(&spec.to_json().unwrap()).unwrap(),
        spec
    );
}

#[test]
fn hostile_field_names_are_refused_at_their_input_without_echo() {
    for hostile in [
        "x; drop table patients",
        "\"quoted\"",
        "<script>alert(1)</script>",
        "Name",
        "select",
        "id",
        "submitted_at",
        "pg_class",
        "1st",
        "a\u{0}b",
        "",
    ] {
        let mut items = six_fields();
        set(&mut items, "field-2-name", hostile);
        let errors = errors_of(items);
        assert_eq!(errors.len(), 1, "{hostile:?}: {errors:?}");
        assert_eq!(errors[0].place, Place::Field(2, FieldPart::Name));
        assert_eq!(errors[0].place.input_id(), "field-2-name");
        assert!(
            errors[0].message.starts_with("Field 2 name: "),
            "{errors:?}"
        );
        // A name with characters no identifier has is never repeated.
        if hostile
            .chars()
            .any(|c| !c.is_ascii_alphanumeric() && c != '_')
        {
            assert!(!errors[0].message.contains(hostile), "{errors:?}");
        }
        assert!(check_field_name(hostile).is_some(), "{hostile:?}");
    }
    assert_eq!(check_field_name("blood_pressure"), None);
}

#[test]
fn every_problem_is_reported_at_once_in_page_order() {
    let mut items = six_fields();
    set(&mut items, "form_name", "Flu!");
    set(&mut items, "title", "   ");
    set(&mut items, "field-1-label", "");
    set(&mut items, "field-2-min", "ten");
    set(&mut items, "field-3-max", "20");
    set(&mut items, "field-3-min", "30");
    set(&mut items, "field-4-min", "2026-02-30");
    set(&mut items, "field-5-options", "");
    set(&mut items, "field-6-max_length", "0");
    set(&mut items, "field-6-pattern", "a)|(b");
    let places: Vec<_> = errors_of(items).into_iter().map(|e| e.place).collect();
    assert_eq!(
        places,
        [
            Place::FormName,
            Place::Title,
            Place::Field(1, FieldPart::Label),
            Place::Field(2, FieldPart::Min),
            Place::Field(3, FieldPart::Min),
            Place::Field(4, FieldPart::Min),
            Place::Field(5, FieldPart::Options),
            Place::Field(6, FieldPart::MaxLength),
            Place::Field(6, FieldPart::Pattern),
        ]
    );
}

#[test]
fn constraints_the_type_does_not_allow_are_refused_at_the_constraint() {
    let cases = [
        ("field-1-max_length", "10", FieldPart::MaxLength),
        ("field-1-pattern", "yes", FieldPart::Pattern),
        ("field-1-min", "1", FieldPart::Min),
        ("field-1-options", "Yes\nNo", FieldPart::Options),
        ("field-1-type", "checkbox", FieldPart::Type),
    ];
    for (key, value, part) in cases {
        let mut items = six_fields();
        set(&mut items, key, value);
        let errors = errors_of(items);
        assert_eq!(errors.len(), 1, "{key}: {errors:?}");
        assert_eq!(errors[0].place, Place::Field(1, part), "{key}");
    }
}

#[test]
fn repeated_names_and_bad_choice_counts() {
    let mut items = six_fields();
    set(&mut items, "field-6-name", "doses");
    let errors = errors_of(items);
    assert_eq!(errors[0].place, Place::Field(6, FieldPart::Name));
    assert!(errors[0].message.contains("field 2"), "{errors:?}");

    let mut items = six_fields();
    set(&mut items, "field-5-type", "multiple_choice");
    set(&mut items, "field-5-min", "4");
    let errors = errors_of(items);
    assert_eq!(
        errors[0].place,
        Place::Field(5, FieldPart::Min),
        "{errors:?}"
    );

    let mut items = six_fields();
    set(&mut items, "field-5-options", "Same\nSame");
    assert_eq!(
        errors_of(items)[0].place,
        Place::Field(5, FieldPart::Options)
    );
}

#[test]
fn labels_and_options_may_hold_markup_which_the_pages_escape() {
    let mut items = six_fields();
    set(
        &mut items,
        "field-1-label",
        "<script>alert(1)</script> & co",
    );
    set(
        &mut items,
        "field-5-options",
        "<b>Surgery</b>\n\"Pharmacy\"",
    );
    let spec = FormDraft::from_pairs(&items).unwrap().to_spec().unwrap();
    let page = crate::form::render_form_page(&crate::form::FormPage::new(&spec)).unwrap();
    assert!(!page.contains("<script>alert"), "the label is escaped");
    assert!(page.contains("&lt;script&gt;"));
    assert!(!page.contains("<b>Surgery"));
}

#[test]
fn a_tampered_count_is_refused() {
    for count in ["0", "51", "1000000", "abc", ""] {
        let mut items = six_fields();
        set(&mut items, "count", count);
        let e = FormDraft::from_pairs(&items).unwrap_err();
        assert_eq!(e.place, Place::Count, "{count}");
    }
    // Fields beyond the count: the page was edited, not filled in.
    let mut items = six_fields();
    set(&mut items, "count", "5");
    assert_eq!(
        FormDraft::from_pairs(&items).unwrap_err().place,
        Place::Count
    );
    let mut items = six_fields();
    items.extend(pairs(&[("field-0-name", "zero")]));
    assert_eq!(
        FormDraft::from_pairs(&items).unwrap_err().place,
        Place::Count
    );
    // Unknown parts and odd keys are not fields at all.
    let mut items = six_fields();
    items.extend(pairs(&[("field-1-colour", "red"), ("field--name", "x")]));
    assert!(FormDraft::from_pairs(&items).unwrap().to_spec().is_ok());
}

#[test]
fn an_overlong_value_is_refused_at_its_input() {
    let mut items = six_fields();
    set(&mut items, "field-6-pattern", &"a".repeat(20_000));
    let errors = errors_of(items);
    assert!(errors
        .iter()
        .all(|e| e.place == Place::Field(6, FieldPart::Pattern)));
}

fn audience(filter: &str) -> AudienceDraft {
    AudienceDraft {
        filter: filter.to_string(),
        ..AudienceDraft::default()
    }
}

#[test]
fn a_good_audience_becomes_a_request() {
    let checked = audience(r#"condition in ("copd", "asthma") and age >= 65"#)
        .check()
        .unwrap();
    assert_eq!(checked.channels, Channel::ALL);
    assert_eq!(checked.link_days, 30);
    let request = checked.request("Flu 2026", FormId(7)).unwrap();
    assert_eq!(request.form, FormId(7));
    assert_eq!(request.link_ttl, chrono::Duration::days(30));
    assert_eq!(
        request.filter.describe(),
        r#"condition in ("copd", "asthma") and age >= 65"#
    );
}

#[test]
fn a_bad_filter_is_placed_at_its_line_and_column_without_its_literals() {
    let e = parse_filter("age >= 65 and\nagee < 3").unwrap_err();
    let at = e.filter.expect("a position");
    assert_eq!((at.line, at.column), (2, 1));
    assert!(
        e.message.starts_with("Audience filter: line 2, column 1: "),
        "{}",
        e.message
    );

    let e = parse_filter(r#"postcode = "Jane Smith""#).unwrap_err();
    assert_eq!(e.filter.as_ref().unwrap().column, 12);
    assert!(!e.message.contains("Jane"), "{}", e.message);

    let e = parse_filter("   ").unwrap_err();
    assert!(e.filter.is_none());
    assert_eq!(e.place, AudiencePlace::Filter);

    for bad in ["age >=", "(age > 3", "age in ()", "é < 3", "<script>"] {
        let e = parse_filter(bad).unwrap_err();
        assert_eq!(e.place, AudiencePlace::Filter, "{bad}");
        assert!(e.filter.is_some(), "{bad}");
    }
}

#[test]
fn bad_sending_choices_are_each_reported() {
    let draft = AudienceDraft {
        filter: "agee > 3".to_string(),
        channels: vec!["fax".to_string()],
        strategy: "sms_first".to_string(),
        budget: "lots".to_string(),
        link_days: "400".to_string(),
        sms: "{org}: hello".to_string(),
    };
    let places: Vec<_> = draft
        .check()
        .unwrap_err()
        .into_iter()
        .map(|e| e.place)
        .collect();
    assert_eq!(
        places,
        [
            AudiencePlace::Filter,
            AudiencePlace::Channels,
            AudiencePlace::Strategy,
            AudiencePlace::Budget,
            AudiencePlace::LinkDays
        ]
    );
    for budget in ["-5", "1,500", "12.3456789", "£", "1e3"] {
        let draft = AudienceDraft {
            budget: budget.to_string(),
            ..audience("all")
        };
        let errors = draft.check().unwrap_err();
        assert_eq!(errors.len(), 1, "{budget}");
        assert_eq!(errors[0].place, AudiencePlace::Budget, "{budget}");
    }
    // Email first sends on both channels: with one ticked it is refused at its radios.
    let draft = AudienceDraft {
        channels: vec!["email".to_string()],
        strategy: "email_first".to_string(),
        ..audience("all")
    };
    let errors = draft.check().unwrap_err();
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].place, AudiencePlace::Strategy);
    assert_eq!(errors[0].place.input_id(), "strategy-both");

    let draft = AudienceDraft {
        channels: vec![],
        ..audience("all")
    };
    assert_eq!(draft.check().unwrap_err()[0].place, AudiencePlace::Channels);

    for sms in ["{org}: no link here", "{link} {nope}", "{link"] {
        let draft = AudienceDraft {
            sms: sms.to_string(),
            ..audience("all")
        };
        let errors = draft.check().unwrap_err();
        assert_eq!(errors.len(), 1, "{sms}");
        assert_eq!(errors[0].place, AudiencePlace::Sms, "{sms}");
    }
    // Email only: the SMS text is not used, so it is not checked.
    let draft = AudienceDraft {
        channels: vec!["email".to_string()],
        sms: "no link".to_string(),
        ..audience("all")
    };
    assert_eq!(draft.check().unwrap().channels, [Channel::Email]);
}

#[test]
fn email_first_and_a_spend_cap_reach_the_request() {
    let draft = AudienceDraft::from_pairs(&pairs(&[
        ("filter", "all"),
        ("channel", "sms"),
        ("channel", "email"),
        ("strategy", "email_first"),
        ("budget", " £1500.50 "),
        ("link_days", "30"),
        ("sms", "{org} {link}"),
    ]));
    let request = draft.check().unwrap().request("Flu", FormId(1)).unwrap();
    assert_eq!(request.strategy, Some(Strategy::EmailFirst));
    assert_eq!(request.budget, Some(Money(1_500_500_000)));
    // The defaults: both at once, no cap; the engine then derives the strategy.
    let request = audience("all")
        .check()
        .unwrap()
        .request("Flu", FormId(1))
        .unwrap();
    assert_eq!((request.strategy, request.budget), (None, None));
}

#[test]
fn audience_pairs_read_every_ticked_channel() {
    let draft = AudienceDraft::from_pairs(&pairs(&[
        ("filter", "all"),
        ("channel", "email"),
        ("channel", "sms"),
        ("channel", "sms"),
        ("link_days", "7"),
        ("sms", "{org} {link}"),
    ]));
    assert!(draft.has_channel("sms") && draft.has_channel("email"));
    let checked = draft.check().unwrap();
    assert_eq!(checked.channels, Channel::ALL);
    assert_eq!(checked.link_days, 7);
}

#[test]
fn the_subset_is_masked_without_the_identity_permission() {
    let patients: Vec<_> = generate(GenerateOptions {
        count: 300,
        seed: 11,
    })
    .into_iter()
    .enumerate()
    .map(|(i, p)| (PatientId(i as i64 + 1), p))
    .collect();
    let today = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let filter = Filter::parse("age >= 40").unwrap();
    let masked = subset(&patients, &filter, today, false);
    let expected: Vec<_> = patients
        .iter()
        .filter(|(_, p)| p.age_on(today) >= 40)
        .take(SUBSET_ROWS)
        .collect();
    assert_eq!(masked.len(), SUBSET_ROWS.min(expected.len()));
    assert!(masked.len() > 1);
    for (row, (_, p)) in masked.iter().zip(&expected) {
        let SubsetRow::Masked {
            initials,
            age_band: band,
            district,
        } = row
        else {
            panic!("an identified row without the permission");
        };
        assert_eq!(initials.len(), 5, "{initials}");
        assert!(!initials.contains(&p.family_name));
        assert_eq!(band, &age_band(p.age_on(today)));
        assert_eq!(district, p.postcode.outward());
    }
    let named = subset(&patients, &filter, today, true);
    assert!(
        matches!(&named[0], SubsetRow::Identified { name, .. } if name.contains(&expected[0].1.family_name))
    );
    assert!(subset(
        &patients,
        &Filter::parse("age > 200").unwrap(),
        today,
        false
    )
    .is_empty());
}

#[test]
fn age_bands() {
    assert_eq!(age_band(0), "0 to 4");
    assert_eq!(age_band(65), "65 to 69");
    assert_eq!(age_band(69), "65 to 69");
    assert_eq!(age_band(89), "85 to 89");
    assert_eq!(age_band(90), "90 or over");
    assert_eq!(age_band(130), "90 or over");
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn the_board_counts_a_sent_campaign_and_its_answers() {
    let f = crate::test_support::Fixture::sent_campaign(40).await;
    let board = super::board::board(&f.engine, f.campaign).await.unwrap();
    assert_eq!(board.state, crate::campaign::CampaignState::Sent);
    assert!(board.complete);
    let sms = &board.channels[0];
    assert_eq!(sms.channel, "sms");
    assert_eq!(sms.remaining, 0);
    assert_eq!(sms.percent, 100);
    assert_eq!(sms.sent + sms.failed + sms.suppressed, sms.total);
    assert_eq!(sms.sent as usize, f.recorder.sent().len());
    assert_eq!(board.funnel.recipients, sms.total);
    assert_eq!(board.funnel.responded, 0);
    assert_eq!(board.response_percent, 0);
    let err = super::board::board(&f.engine, crate::campaign::CampaignId(999)).await;
    assert!(matches!(err, Err(crate::Error::NotFound { .. })), "{err:?}");
}

#[cfg(feature = "sqlite")]
#[tokio::test]
async fn the_non_respondents_are_counted_four_ways_and_add_up() {
    let f = crate::test_support::Fixture::sent_campaign(60).await;
    let b = super::breakdown::campaign_breakdown(&f.engine, f.campaign)
        .await
        .unwrap();
    let non_respondents = f.engine.store().non_respondents(f.campaign).await.unwrap();
    assert_eq!(b.total, non_respondents.len() as u64);
    assert!(b.total > 0);
    let sum = |t: &[super::breakdown::Tally]| t.iter().map(|t| t.count).sum::<u64>();
    // Every non-respondent is in exactly one reason, age band and district.
    assert_eq!(sum(&b.by_reason), b.total);
    assert_eq!(sum(&b.by_age_band), b.total);
    assert_eq!(sum(&b.by_district), b.total);
    // A patient with several conditions counts once for each.
    assert!(sum(&b.by_condition) >= b.total);
    assert!(b.by_district.len() <= super::breakdown::TOP_ROWS);
    assert!(b
        .by_district
        .windows(2)
        .all(|w| w[0].count >= w[1].count || w[1].label == "other districts"));
    assert_eq!(b.by_reason[0].label, "Never opened the link");
    // Nothing identifying: labels are reasons, codes, bands and districts only.
    let patients = f.engine.store().all_patients().await.unwrap();
    let labels: Vec<&str> = [&b.by_condition, &b.by_age_band, &b.by_district]
        .iter()
        .flat_map(|t| t.iter().map(|t| t.label.as_str()))
        .collect();
    for (_, p) in &patients {
        assert!(!labels.contains(&p.family_name.as_str()));
        assert!(!labels.contains(&p.postcode.as_str()));
    }
}

#[test]
fn the_chart_keeps_the_latest_days_and_scales_bars_to_the_rate() {
    use super::chart::{chart, CHART_DAYS, HEIGHT};
    use crate::report::response_series;
    let first = NaiveDate::from_ymd_opt(2026, 10, 1).unwrap();
    let last = NaiveDate::from_ymd_opt(2026, 11, 30).unwrap();
    let by_day = [
        (NaiveDate::from_ymd_opt(2026, 10, 2).unwrap(), 10),
        (NaiveDate::from_ymd_opt(2026, 11, 29).unwrap(), 30),
    ];
    let series = response_series(first, last, &by_day, 80);
    assert_eq!(series.len(), 61);
    let c = chart(&series);
    assert_eq!(c.bars.len(), CHART_DAYS);
    assert_eq!(c.days_left_out, 61 - CHART_DAYS);
    let end = c.bars.last().unwrap();
    assert_eq!(
        (end.date.as_str(), end.responded, end.percent),
        ("2026-11-30", 40, 50.0)
    );
    assert_eq!(end.height, HEIGHT / 2);
    assert_eq!(end.y + end.height, HEIGHT);
    let before = &c.bars[CHART_DAYS - 3];
    assert_eq!((before.responded, before.percent), (10, 12.5));
    assert!(c.bars.windows(2).all(|w| w[0].x + w[0].width <= w[1].x));
    assert!(end.x + end.width <= c.width);
    // Nothing to draw.
    assert!(chart(&[]).bars.is_empty());
}
