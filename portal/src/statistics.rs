//! The office's statistics for its admins: the days' aggregates (the office keeps
//! them beyond the days themselves) summed per service, department, desk and day,
//! as tables, a chart drawn here as SVG (readable without JavaScript) and CSV.
//! Nothing here knows a visitor: only counts and times.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::time::Duration;

use aufruf_model::OfficeConfig;
use aufruf_model::statistics::{DayStatistics, DeskStatistics, ServiceStatistics};
use chrono::NaiveDate;

use crate::i18n::Lang;

/// The longest span one page or export covers.
pub const MAX_DAYS: i64 = 366;

/// The statistics of the days `from..=to` the office has a record of.
#[derive(Debug, Clone, Default)]
pub struct Span {
    pub days: Vec<DayStatistics>,
}

/// One row of a table: what it is about, and its figures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Figures {
    pub visitors: u32,
    pub walk_ins: u32,
    pub appointments: u32,
    pub served: u32,
    pub no_shows: u32,
    pub cancelled: u32,
    pub mean_wait: Option<Duration>,
    pub p90_wait: Option<Duration>,
    pub mean_handling: Option<Duration>,
    pub p90_handling: Option<Duration>,
    pub mean_estimate_error: Option<Duration>,
}

impl Figures {
    pub fn of(s: &ServiceStatistics) -> Self {
        Figures {
            visitors: s.visitors(),
            walk_ins: s.walk_ins,
            appointments: s.appointments,
            served: s.served,
            no_shows: s.no_shows,
            cancelled: s.cancelled,
            mean_wait: s.mean_wait(),
            p90_wait: s.waits.percentile(0.9),
            mean_handling: s.mean_handling(),
            p90_handling: s.handling.percentile(0.9),
            mean_estimate_error: s.mean_estimate_error(),
        }
    }

    pub fn of_desk(d: &DeskStatistics) -> Self {
        Figures {
            visitors: d.served + d.no_shows,
            walk_ins: 0,
            appointments: 0,
            served: d.served,
            no_shows: d.no_shows,
            cancelled: 0,
            mean_wait: None,
            p90_wait: None,
            mean_handling: d.mean_handling(),
            p90_handling: d.handling.percentile(0.9),
            mean_estimate_error: None,
        }
    }
}

impl Span {
    /// Sums per service over all days.
    pub fn by_service(&self) -> BTreeMap<String, ServiceStatistics> {
        let mut sums: BTreeMap<String, ServiceStatistics> = BTreeMap::new();
        for day in &self.days {
            for (service, s) in &day.services {
                sums.entry(service.to_string()).or_default().merge(s);
            }
        }
        sums
    }

    /// Sums per department (by the configuration in force: a service since removed
    /// counts under "—").
    pub fn by_department(&self, config: &OfficeConfig) -> BTreeMap<String, ServiceStatistics> {
        let mut sums: BTreeMap<String, ServiceStatistics> = BTreeMap::new();
        for (service, s) in self.by_service() {
            let department = department_of(config, &service);
            sums.entry(department).or_default().merge(&s);
        }
        sums
    }

    /// Sums per desk over all days.
    pub fn by_desk(&self) -> BTreeMap<String, DeskStatistics> {
        let mut sums: BTreeMap<String, DeskStatistics> = BTreeMap::new();
        for day in &self.days {
            for (desk, d) in &day.desks {
                sums.entry(desk.to_string()).or_default().merge(d);
            }
        }
        sums
    }

    /// The whole office per day.
    pub fn by_day(&self) -> Vec<(NaiveDate, ServiceStatistics)> {
        self.days
            .iter()
            .map(|day| {
                let mut sum = ServiceStatistics::default();
                for s in day.services.values() {
                    sum.merge(s);
                }
                (day.date, sum)
            })
            .collect()
    }

    /// Everything summed.
    pub fn total(&self) -> ServiceStatistics {
        let mut sum = ServiceStatistics::default();
        for (_, s) in self.by_day() {
            sum.merge(&s);
        }
        sum
    }
}

fn department_of(config: &OfficeConfig, service: &str) -> String {
    config
        .services
        .iter()
        .find(|s| s.id.as_str() == service)
        .map_or_else(|| "—".to_owned(), |s| s.department.to_string())
}

/// A service's (or department's) name in `lang`, its id when the office no longer has it.
pub fn service_name(config: &OfficeConfig, id: &str, lang: Lang) -> String {
    config
        .services
        .iter()
        .find(|s| s.id.as_str() == id)
        .map_or_else(
            || id.to_owned(),
            |s| match lang {
                Lang::De => s.name.de.clone(),
                Lang::En => s.name.en.clone(),
            },
        )
}

pub fn department_name(config: &OfficeConfig, id: &str, lang: Lang) -> String {
    config
        .departments
        .iter()
        .find(|d| d.id.as_str() == id)
        .map_or_else(
            || id.to_owned(),
            |d| match lang {
                Lang::De => d.name.de.clone(),
                Lang::En => d.name.en.clone(),
            },
        )
}

/// Minutes with one decimal ("4,5" in German, "4.5" in English); "–" for none.
pub fn minutes(time: Option<Duration>, lang: Lang) -> String {
    match time {
        None => "–".to_owned(),
        Some(t) => {
            let text = format!("{:.1}", t.as_secs_f64() / 60.0);
            match lang {
                Lang::De => text.replace('.', ","),
                Lang::En => text,
            }
        }
    }
}

// ---- CSV ----

/// A CSV field: quoted when it holds a separator, quote or line break; a text a
/// spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, carriage return
/// first) gets a leading apostrophe, so an exported name never runs as one.
pub fn csv_field(text: &str) -> String {
    let mut text = text.to_owned();
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        text.insert(0, '\'');
    }
    if text.contains([',', '"', '\n', '\r', ';']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text
    }
}

fn csv_minutes(time: Option<Duration>) -> String {
    time.map_or_else(String::new, |t| format!("{:.1}", t.as_secs_f64() / 60.0))
}

/// The header of [`csv`].
pub const CSV_HEADER: &str = "date,kind,department,id,name,visitors,walk_ins,appointments,served,no_shows,cancelled,mean_wait_min,p90_wait_min,mean_handling_min,p90_handling_min,mean_estimate_error_min";

/// One row per day and service and per day and desk (the kind column says which),
/// times in minutes; names in `lang`.
pub fn csv(span: &Span, config: &OfficeConfig, lang: Lang) -> String {
    let mut out = String::new();
    out.push_str(CSV_HEADER);
    out.push_str("\r\n");
    let mut row =
        |date: NaiveDate, kind: &str, department: &str, id: &str, name: &str, f: Figures| {
            let _ = write!(
                out,
                "{date},{kind},{},{},{},{},{},{},{},{},{},{},{},{},{},{}\r\n",
                csv_field(department),
                csv_field(id),
                csv_field(name),
                f.visitors,
                f.walk_ins,
                f.appointments,
                f.served,
                f.no_shows,
                f.cancelled,
                csv_minutes(f.mean_wait),
                csv_minutes(f.p90_wait),
                csv_minutes(f.mean_handling),
                csv_minutes(f.p90_handling),
                csv_minutes(f.mean_estimate_error),
            );
        };
    for day in &span.days {
        for (service, s) in &day.services {
            let id = service.as_str();
            row(
                day.date,
                "service",
                &department_of(config, id),
                id,
                &service_name(config, id, lang),
                Figures::of(s),
            );
        }
        for (desk, d) in &day.desks {
            let department = config
                .desks
                .iter()
                .find(|x| &x.id == desk)
                .map_or_else(String::new, |x| x.department.to_string());
            let name = config
                .desks
                .iter()
                .find(|x| &x.id == desk)
                .map_or_else(|| desk.to_string(), |x| x.name.clone());
            row(
                day.date,
                "desk",
                &department,
                desk.as_str(),
                &name,
                Figures::of_desk(d),
            );
        }
    }
    out
}

// ---- the chart ----

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// Visitors per day as stacked bars (walk-ins below, appointments above), SVG with a
/// title, a description and each bar's figures as its own title; colours by
/// attributes (the page's CSP allows no inline style).
pub fn chart(days: &[(NaiveDate, ServiceStatistics)], lang: Lang) -> String {
    const WIDTH: f64 = 720.0;
    const HEIGHT: f64 = 240.0;
    const LEFT: f64 = 40.0;
    const BOTTOM: f64 = 28.0;
    const TOP: f64 = 12.0;
    let most = days
        .iter()
        .map(|(_, s)| s.visitors())
        .max()
        .unwrap_or(0)
        .max(1);
    let slot = (WIDTH - LEFT) / days.len().max(1) as f64;
    let bar = (slot * 0.7).max(1.0);
    let scale = (HEIGHT - BOTTOM - TOP) / f64::from(most);
    let title = lang.pick("Besucher je Tag", "Visitors per day");
    let description = match lang {
        Lang::De => format!(
            "Balken je Tag: Wartemarken (dunkel) und Termine (hell); höchstens {most} an einem Tag. Die Zahlen stehen in der Tabelle darunter."
        ),
        Lang::En => format!(
            "A bar per day: walk-ins (dark) and appointments (light); at most {most} on one day. The figures are in the table below."
        ),
    };
    let mut svg = String::new();
    let _ = write!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-labelledby=\"chart-title chart-desc\" class=\"portal-chart\">\
         <title id=\"chart-title\">{}</title><desc id=\"chart-desc\">{}</desc>",
        escape(title),
        escape(&description)
    );
    let base = HEIGHT - BOTTOM;
    let _ = write!(
        svg,
        "<line x1=\"{LEFT}\" y1=\"{base}\" x2=\"{WIDTH}\" y2=\"{base}\" stroke=\"#1b1b1b\" stroke-width=\"1\"/>\
         <text x=\"{}\" y=\"{}\" font-size=\"11\" text-anchor=\"end\" fill=\"#1b1b1b\">{most}</text>",
        LEFT - 4.0,
        TOP + 4.0
    );
    let label_every = (days.len() / 12).max(1);
    for (i, (date, s)) in days.iter().enumerate() {
        let x = LEFT + slot * i as f64 + (slot - bar) / 2.0;
        let walk = f64::from(s.walk_ins) * scale;
        let booked = f64::from(s.appointments) * scale;
        let figures = match lang {
            Lang::De => format!(
                "{}: {} Besucher, {} Wartemarken, {} Termine",
                date.format("%d.%m.%Y"),
                s.visitors(),
                s.walk_ins,
                s.appointments
            ),
            Lang::En => format!(
                "{}: {} visitors, {} walk-ins, {} appointments",
                date.format("%Y-%m-%d"),
                s.visitors(),
                s.walk_ins,
                s.appointments
            ),
        };
        let _ = write!(
            svg,
            "<g><title>{}</title>\
             <rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{walk:.1}\" fill=\"#0b3a74\"/>\
             <rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{booked:.1}\" fill=\"#6a9fd8\"/></g>",
            escape(&figures),
            base - walk,
            base - walk - booked,
        );
        if i % label_every == 0 {
            let _ = write!(
                svg,
                "<text x=\"{:.1}\" y=\"{}\" font-size=\"11\" text-anchor=\"middle\" fill=\"#1b1b1b\">{}</text>",
                x + bar / 2.0,
                HEIGHT - 10.0,
                date.format("%d.%m.")
            );
        }
    }
    svg.push_str("</svg>");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_field_a_spreadsheet_would_run_is_defused_and_separators_are_quoted() {
        assert_eq!(csv_field("Reisepass"), "Reisepass");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("+1"), "'+1");
        assert_eq!(csv_field("-2"), "'-2");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("\tx"), "'\tx");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("a;b"), "\"a;b\"");
        assert_eq!(csv_field("zwei\nZeilen"), "\"zwei\nZeilen\"");
    }

    #[test]
    fn the_chart_escapes_what_it_writes_and_draws_a_bar_per_day() {
        let mut s = ServiceStatistics {
            walk_ins: 3,
            appointments: 2,
            ..Default::default()
        };
        let day = NaiveDate::from_ymd_opt(2026, 11, 25).unwrap();
        let svg = chart(&[(day, s.clone())], Lang::De);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("25.11.2026: 5 Besucher, 3 Wartemarken, 2 Termine"));
        assert_eq!(svg.matches("<rect").count(), 2);
        assert!(!svg.contains("style="));
        s.walk_ins = 0;
        let svg = chart(&[(day, s.clone()), (day, s)], Lang::En);
        assert_eq!(svg.matches("<rect").count(), 4);
        assert!(chart(&[], Lang::De).ends_with("</svg>"));
    }
}
