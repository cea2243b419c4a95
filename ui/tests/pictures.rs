//! Every screen in its main states, drawn by Slint's software renderer with the
//! system's fonts, compared with the reviewed pictures in `ui/tests/pictures/` (the
//! README shows them): a screen that draws differently — a layout moved, a text
//! cut off, a colour changed — fails here.
//!
//! The office's clock and Slint's time are fixed values the test moves, so a picture
//! is the same on every run; the comparison allows for the small differences of
//! anti-aliasing between machines (at most 0.5 % of pixels off by more than 48 in a
//! channel).
//!
//! To draw the pictures afresh into a folder (and, once looked at, make them the
//! references):
//!
//! ```text
//! AUFRUF_PICTURES_OUT=ui/tests/pictures cargo test -p aufruf-ui --test pictures
//! ```
//!
//! Its own test binary: the screens' other tests use the testing backend's mock
//! renderer, and a process has one platform.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests fail loudly by design

#[path = "screens/common.rs"]
#[allow(dead_code)]
mod common;

use std::path::{Path, PathBuf};
use std::time::Duration;

use aufruf_hardware::{QrOnlyReason, TicketOffer};
use aufruf_model::{NodeId, Role};
use aufruf_office::DeskAction;
use aufruf_office::memory::MemoryReplica;
use aufruf_office::views::PeerView;
use aufruf_ui::desk::DeskScreen;
use aufruf_ui::display::DisplayScreen;
use aufruf_ui::kiosk::KioskScreen;
use aufruf_ui::speech::Recorder;
use common::{Foyer, elapse, press, sunday, wednesday};
use slint::ComponentHandle;

/// Pixels that may differ, per mille, and by how much a channel may differ unnoticed.
const DIFFERENT_PER_MILLE: usize = 5;
const CHANNEL_SLACK: u8 = 48;

fn init_slint() {
    let _ = slint::platform::set_platform(Box::new(i_slint_backend_testing::TestingBackend::new(
        i_slint_backend_testing::TestingBackendOptions {
            mock_time: true,
            threading: false,
            renderer_name: Some("software".into()),
        },
    )));
}

/// A picture of a window: width, height, RGBA bytes.
struct Picture {
    width: u32,
    height: u32,
    rgba: Vec<u8>,
}

fn snapshot(window: &slint::Window) -> Picture {
    let shot = window.take_snapshot().unwrap();
    Picture {
        width: shot.width(),
        height: shot.height(),
        rgba: shot.as_bytes().to_vec(),
    }
}

fn write_png(path: &Path, picture: &Picture) {
    let file = std::fs::File::create(path).unwrap();
    let mut encoder =
        png::Encoder::new(std::io::BufWriter::new(file), picture.width, picture.height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    encoder.set_compression(png::Compression::High);
    let mut writer = encoder.write_header().unwrap();
    writer.write_image_data(&picture.rgba).unwrap();
}

fn read_png(path: &Path) -> Picture {
    let file = std::fs::File::open(path)
        .unwrap_or_else(|e| panic!("{}: {e} (draw it with AUFRUF_PICTURES_OUT)", path.display()));
    let mut decoder = png::Decoder::new(std::io::BufReader::new(file));
    decoder.set_transformations(png::Transformations::EXPAND);
    let mut reader = decoder.read_info().unwrap();
    let mut rgba = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut rgba).unwrap();
    assert_eq!(info.color_type, png::ColorType::Rgba, "{}", path.display());
    rgba.truncate(info.buffer_size());
    Picture {
        width: info.width,
        height: info.height,
        rgba,
    }
}

fn references() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/pictures")
}

/// A rectangle of a picture left out of the comparison: x, y, width, height.
type Region = (u32, u32, u32, u32);

/// Writes `picture` as `<name>.png` into `AUFRUF_PICTURES_OUT` when set; else
/// compares it with the reference of that name.
fn check(name: &str, picture: &Picture) {
    check_except(name, picture, None);
}

/// [`check`], leaving `skip` out of the comparison.
fn check_except(name: &str, picture: &Picture, skip: Option<Region>) {
    if let Some(out) = std::env::var_os("AUFRUF_PICTURES_OUT") {
        let out = PathBuf::from(out);
        std::fs::create_dir_all(&out).unwrap();
        write_png(&out.join(format!("{name}.png")), picture);
        return;
    }
    let reference = read_png(&references().join(format!("{name}.png")));
    assert_eq!(
        (picture.width, picture.height),
        (reference.width, reference.height),
        "{name}: size"
    );
    let width = picture.width as usize;
    let skipped = |i: usize| {
        let (x, y) = ((i % width) as u32, (i / width) as u32);
        skip.is_some_and(|(sx, sy, w, h)| x >= sx && x < sx + w && y >= sy && y < sy + h)
    };
    let different = picture
        .rgba
        .chunks_exact(4)
        .zip(reference.rgba.chunks_exact(4))
        .enumerate()
        .filter(|(i, (a, b))| {
            !skipped(*i)
                && a.iter()
                    .zip(*b)
                    .any(|(x, y)| x.abs_diff(*y) > CHANNEL_SLACK)
        })
        .count();
    let pixels = (picture.width * picture.height) as usize;
    if different * 1000 > pixels * DIFFERENT_PER_MILLE {
        let seen = std::env::temp_dir().join(format!("aufruf-picture-{name}.png"));
        write_png(&seen, picture);
        panic!(
            "{name}: {different} of {pixels} pixels differ from {}; drawn now: {}",
            references().join(format!("{name}.png")).display(),
            seen.display()
        );
    }
}

/// The kiosk, the display and a desk as linked to each other.
fn linked(foyer: &Foyer) {
    let peer = |node: &str, role| PeerView {
        node: NodeId::new(node).unwrap(),
        role,
    };
    foyer.replica.set_peers(vec![
        peer("kiosk-1", Role::Kiosk),
        peer("desk-2", Role::Desk),
        peer("display-1", Role::Display),
    ]);
}

/// A busy morning: seven visitors drew tickets, desk 1 serves one and has called the
/// next.
fn busy_morning(foyer: &Foyer) {
    linked(foyer);
    for service in [
        "reisepass",
        "personalausweis",
        "anmeldung",
        "reisepass",
        "fundsachen",
        "meldebescheinigung",
        "personalausweis",
    ] {
        foyer.draw(service);
    }
    let now = foyer.clock.now();
    foyer
        .desk
        .act(now, DeskAction::Open { services: vec![] })
        .unwrap();
    foyer.desk.act(now, DeskAction::CallNext).unwrap();
    foyer.desk.act(now, DeskAction::Done).unwrap();
    foyer.clock.advance(Duration::from_secs(60));
    foyer
        .desk
        .act(foyer.clock.now(), DeskAction::CallNext)
        .unwrap();
    foyer.replicate();
}

fn display(foyer: &Foyer, width: u32, height: u32) -> std::rc::Rc<DisplayScreen<MemoryReplica>> {
    let screen = DisplayScreen::new(
        foyer.display.clone(),
        Box::new(Recorder::default()),
        foyer.clock.as_now(),
    )
    .unwrap();
    screen
        .window()
        .window()
        .set_size(slint::PhysicalSize::new(width, height));
    screen.window().show().unwrap();
    screen.show_pushed();
    // Past the call's blinking; the ticker at a fixed place.
    elapse(Duration::from_secs(10));
    screen
}

fn kiosk(foyer: &Foyer) -> std::rc::Rc<KioskScreen<MemoryReplica>> {
    let screen = KioskScreen::new(foyer.kiosk.clone(), foyer.clock.as_now()).unwrap();
    screen
        .window()
        .window()
        .set_size(slint::PhysicalSize::new(1080, 1920));
    screen.window().show().unwrap();
    elapse(Duration::from_secs(1));
    screen
}

fn desk(foyer: &Foyer) -> std::rc::Rc<DeskScreen<MemoryReplica>> {
    let screen = DeskScreen::new(foyer.desk.clone(), foyer.clock.as_now()).unwrap();
    screen
        .window()
        .window()
        .set_size(slint::PhysicalSize::new(1280, 800));
    screen.window().show().unwrap();
    screen.show_pushed();
    elapse(Duration::from_secs(1));
    screen
}

#[test]
fn the_display_in_landscape_and_portrait_busy_and_cut_off() {
    init_slint();
    let foyer = Foyer::open();
    busy_morning(&foyer);
    let screen = display(&foyer, 1920, 1080);
    check("display", &snapshot(screen.window().window()));
    let screen = display(&foyer, 1080, 1920);
    check("display-portrait", &snapshot(screen.window().window()));

    let alone = Foyer::open();
    let screen = display(&alone, 1920, 1080);
    check("display-offline", &snapshot(screen.window().window()));
}

#[test]
fn the_kiosk_in_its_states_languages_and_contrast() {
    init_slint();
    let foyer = Foyer::open();
    linked(&foyer);
    let screen = kiosk(&foyer);
    check("kiosk", &snapshot(screen.window().window()));
    press(screen.window(), "Reisepass");
    press(screen.window(), "QR-Code fürs Handy");
    elapse(Duration::from_secs(1));
    // The QR code holds the ticket's status token, drawn at random: its square (on
    // the right, around the middle) is left out.
    check_except(
        "kiosk-ticket",
        &snapshot(screen.window().window()),
        Some((600, 730, 480, 490)),
    );

    let screen = kiosk(&foyer);
    press(screen.window(), "العربية");
    elapse(Duration::from_secs(1));
    check("kiosk-arabic", &snapshot(screen.window().window()));

    let screen = kiosk(&foyer);
    press(screen.window(), "Größere Schrift, hoher Kontrast");
    elapse(Duration::from_secs(1));
    check("kiosk-high-contrast", &snapshot(screen.window().window()));

    let no_paper = Foyer::new(
        MemoryReplica::new(),
        TicketOffer::QrOnly(QrOnlyReason::PaperOut),
        wednesday(9, 0),
    );
    linked(&no_paper);
    let screen = kiosk(&no_paper);
    check("kiosk-no-paper", &snapshot(screen.window().window()));

    let closed = Foyer::new(
        MemoryReplica::new(),
        TicketOffer::PaperAndQr { paper_low: false },
        sunday(11, 0),
    );
    linked(&closed);
    let screen = kiosk(&closed);
    check("kiosk-closed", &snapshot(screen.window().window()));
}

#[test]
fn the_desk_before_opening_and_with_a_visitor_called() {
    init_slint();
    let before = Foyer::open();
    linked(&before);
    before.draw("reisepass");
    before.replicate();
    let screen = desk(&before);
    check("desk-closed", &snapshot(screen.window().window()));

    let foyer = Foyer::open();
    busy_morning(&foyer);
    let screen = desk(&foyer);
    check("desk", &snapshot(screen.window().window()));
}
