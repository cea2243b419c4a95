//! The portal as an installable app: manifest, icons, service worker, offline page.

use axum::http::StatusCode;

use crate::common::Site;

fn png_size(png: &[u8]) -> (u32, u32) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png));
    let reader = decoder.read_info().unwrap();
    let info = reader.info();
    (info.width, info.height)
}

#[tokio::test]
async fn the_portal_is_an_app_with_a_manifest_icons_and_an_offline_memory() {
    let site = Site::new();
    let mut b = site.browser();
    let home = b.get("/").await;
    assert!(
        home.body
            .contains("<link rel=\"manifest\" href=\"/manifest.webmanifest\">")
    );
    let csp = home.headers["content-security-policy"].to_str().unwrap();
    assert!(
        csp.contains("manifest-src 'self'") && csp.contains("worker-src 'self'"),
        "{csp}"
    );

    let manifest = b.get("/manifest.webmanifest").await;
    assert_eq!(manifest.status, StatusCode::OK);
    assert_eq!(
        manifest.headers["content-type"],
        "application/manifest+json"
    );
    let m: serde_json::Value = serde_json::from_str(&manifest.body).unwrap();
    assert_eq!(m["name"], "Bürgerbüro Zeitz – Termine und Wartemarken");
    assert_eq!(
        (m["start_url"].as_str(), m["display"].as_str()),
        (Some("/"), Some("standalone"))
    );
    let icons = m["icons"].as_array().unwrap();
    assert!(icons.iter().any(|i| i["purpose"] == "maskable"));
    for icon in icons {
        let page = b.get(icon["src"].as_str().unwrap()).await;
        assert_eq!(page.headers["content-type"], "image/png");
        let side: u32 = icon["sizes"]
            .as_str()
            .unwrap()
            .split('x')
            .next()
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!(png_size(&page.bytes), (side, side), "{icon}");
    }

    let sw = b.get("/sw.js").await;
    assert_eq!(sw.status, StatusCode::OK);
    assert_eq!(sw.headers["content-type"], "text/javascript; charset=utf-8");
    assert_eq!(sw.headers["cache-control"], "no-store");
    assert!(sw.body.contains("\"/offline\""));
    // Only ticket pages are kept on the phone, never an account's.
    assert!(sw.body.contains(r"/^\/t\/[A-Za-z0-9]+$/"));

    let offline = b.get("/offline").await;
    assert_eq!(offline.status, StatusCode::OK);
    assert!(offline.body.contains("Keine Verbindung"));
}
