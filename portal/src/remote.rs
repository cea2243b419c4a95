//! Walk-in tickets from the phone: a signed-in citizen near the office draws a ticket
//! as at the kiosk, and follows it on its QR page. "Near" is checked here, on the
//! server, from the position the browser reports: within the office's radius, with the
//! browser's own accuracy no coarser than the radius (a position known only to a
//! kilometre says nothing about standing in the foyer).

use crate::settings::RemoteTickets;

/// Mean Earth radius (metres), for the haversine distance.
const EARTH_M: f64 = 6_371_008.8;

/// Why a position does not allow a ticket.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum TooFar {
    /// Not a position on Earth (or not sent).
    NoPosition,
    /// Known only to `accuracy_m`, coarser than the radius.
    Inaccurate { accuracy_m: f64 },
    /// `distance_m` from the office.
    Away { distance_m: f64 },
}

/// Metres between two positions (degrees), along the Earth's surface.
pub fn distance_m(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let dp = p2 - p1;
    let dl = (lon2 - lon1).to_radians();
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * EARTH_M * a.sqrt().min(1.0).asin()
}

/// Whether a citizen at (`latitude`, `longitude`), known to `accuracy_m`, is near
/// enough to the office to draw a ticket.
pub fn near(
    office: &RemoteTickets,
    latitude: f64,
    longitude: f64,
    accuracy_m: f64,
) -> Result<(), TooFar> {
    let on_earth = latitude.is_finite()
        && longitude.is_finite()
        && accuracy_m.is_finite()
        && (-90.0..=90.0).contains(&latitude)
        && (-180.0..=180.0).contains(&longitude)
        && accuracy_m >= 0.0;
    if !on_earth {
        return Err(TooFar::NoPosition);
    }
    if accuracy_m > office.radius_m {
        return Err(TooFar::Inaccurate { accuracy_m });
    }
    let distance_m = distance_m(office.latitude, office.longitude, latitude, longitude);
    if distance_m > office.radius_m {
        return Err(TooFar::Away { distance_m });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zeitz town hall, roughly.
    const ZEITZ: RemoteTickets = RemoteTickets {
        latitude: 51.0478,
        longitude: 12.1383,
        radius_m: 500.0,
    };

    #[test]
    fn distances_on_the_ground_are_right_to_a_metre_or_so() {
        // One thousandth of a degree of latitude is about 111 m anywhere.
        let d = distance_m(51.0, 12.0, 51.001, 12.0);
        assert!((d - 111.2).abs() < 1.0, "{d}");
        // Zeitz to Leipzig, about 36 km.
        let d = distance_m(51.0478, 12.1383, 51.3397, 12.3731);
        assert!((d - 36_300.0).abs() < 1_000.0, "{d}");
        assert_eq!(distance_m(51.0, 12.0, 51.0, 12.0), 0.0);
    }

    #[test]
    fn a_ticket_needs_a_position_within_the_radius_known_well_enough() {
        assert_eq!(near(&ZEITZ, 51.0478, 12.1383, 20.0), Ok(()));
        // 300 m north, known to 50 m.
        assert_eq!(near(&ZEITZ, 51.0505, 12.1383, 50.0), Ok(()));
        assert!(matches!(
            near(&ZEITZ, 51.0568, 12.1383, 20.0),
            Err(TooFar::Away { distance_m }) if distance_m > 900.0
        ));
        assert!(matches!(
            near(&ZEITZ, 51.0478, 12.1383, 2_000.0),
            Err(TooFar::Inaccurate { .. })
        ));
        for (lat, lon, acc) in [
            (f64::NAN, 12.0, 10.0),
            (51.0, f64::INFINITY, 10.0),
            (91.0, 12.0, 10.0),
            (51.0, 181.0, 10.0),
            (51.0478, 12.1383, -1.0),
        ] {
            assert_eq!(near(&ZEITZ, lat, lon, acc), Err(TooFar::NoPosition));
        }
    }
}
