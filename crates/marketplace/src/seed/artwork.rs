//! Demo artwork drawn locally, one motif per family of styles, so a visitor can tell the styles apart.

use domain::Style;
use image::{Rgb, RgbImage};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::f32::consts::{PI, TAU};

/// The ink every design is outlined in.
pub const INK: [u8; 3] = [24, 22, 28];

/// What a style looks like, reduced to something a few lines of code can draw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Motif {
    /// A thin botanical sprig (fine line, minimalist).
    Sprig,
    /// A stippled mandala (dotwork, handpoke).
    Stipple,
    /// Nested polygons and their spokes (geometric, ornamental).
    Polygons,
    /// Large solid black flames and bands (blackwork, tribal).
    Solid,
    /// A flat-coloured heart with a banner under a heavy outline (traditional and its kin).
    Heart,
    /// Soft overlapping washes with splatter (watercolour).
    Wash,
    /// Overlapping wave scales (Japanese).
    Waves,
    /// A shaded sphere, an eye for surrealism, hatching for illustrative (realism and kin).
    Shaded,
    /// Looping script along a baseline (lettering).
    Script,
}

fn motif(style: Style) -> Motif {
    match style {
        Style::FineLine | Style::Minimalist => Motif::Sprig,
        Style::Dotwork | Style::Handpoke => Motif::Stipple,
        Style::Geometric | Style::Ornamental => Motif::Polygons,
        Style::Blackwork | Style::Tribal => Motif::Solid,
        Style::Traditional | Style::NeoTraditional | Style::NewSchool | Style::Chicano => {
            Motif::Heart
        }
        Style::Watercolour => Motif::Wash,
        Style::Japanese => Motif::Waves,
        Style::Realism | Style::Surrealism | Style::Illustrative => Motif::Shaded,
        Style::Lettering => Motif::Script,
    }
}

/// A square sheet addressed in coordinates from -1 to 1 on both axes.
struct Canvas {
    img: RgbImage,
    half: f32,
}

impl Canvas {
    fn new(size: u32, paper: [u8; 3]) -> Self {
        let img = RgbImage::from_fn(size, size, |x, y| {
            // Paper grain, so the sheet does not read as a flat fill.
            let grain =
                (((x.wrapping_mul(73_856_093) ^ y.wrapping_mul(19_349_663)) % 13) as i16) - 6;
            Rgb(paper.map(|c| (c as i16 + grain).clamp(0, 255) as u8))
        });
        Self {
            img,
            half: size as f32 / 2.0,
        }
    }

    fn blend(&mut self, x: u32, y: u32, colour: [u8; 3], alpha: f32) {
        let px = self.img.get_pixel_mut(x, y);
        for (c, target) in px.0.iter_mut().zip(colour) {
            *c = (*c as f32 * (1.0 - alpha) + target as f32 * alpha).round() as u8;
        }
    }

    /// Paints every pixel where `inside(u, v)` holds.
    fn fill(&mut self, colour: [u8; 3], alpha: f32, inside: impl Fn(f32, f32) -> bool) {
        let size = self.img.width();
        for y in 0..size {
            for x in 0..size {
                let (u, v) = (x as f32 / self.half - 1.0, y as f32 / self.half - 1.0);
                if inside(u, v) {
                    self.blend(x, y, colour, alpha);
                }
            }
        }
    }

    /// A round stamp of radius `r` (sheet units) at `(u, v)`.
    fn dot(&mut self, u: f32, v: f32, r: f32, colour: [u8; 3]) {
        let (cx, cy, pr) = ((u + 1.0) * self.half, (v + 1.0) * self.half, r * self.half);
        let size = self.img.width() as f32;
        let (x0, x1) = ((cx - pr).max(0.0) as u32, (cx + pr).min(size - 1.0) as u32);
        let (y0, y1) = ((cy - pr).max(0.0) as u32, (cy + pr).min(size - 1.0) as u32);
        for y in y0..=y1 {
            for x in x0..=x1 {
                let (dx, dy) = (x as f32 - cx, y as f32 - cy);
                if dx * dx + dy * dy <= pr * pr {
                    self.blend(x, y, colour, 1.0);
                }
            }
        }
    }

    /// A stroke along the curve `at(t)` for t in 0..1, stamped densely enough to stay unbroken.
    fn stroke(&mut self, width: f32, colour: [u8; 3], at: impl Fn(f32) -> (f32, f32)) {
        let steps = 1_200;
        for i in 0..=steps {
            let (u, v) = at(i as f32 / steps as f32);
            self.dot(u, v, width / 2.0, colour);
        }
    }
}

/// Draws a design for `style`; `seed` varies it within the style.
pub fn draw_design(seed: u64, style: Style, size: u32) -> RgbImage {
    let mut rng = StdRng::seed_from_u64(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let papers = [
        [243, 233, 218],
        [236, 224, 205],
        [248, 240, 228],
        [229, 214, 196],
    ];
    let accents = [
        [178, 34, 52],
        [32, 96, 160],
        [214, 140, 24],
        [40, 130, 90],
        [120, 60, 150],
    ];
    let paper = papers[rng.gen_range(0..papers.len())];
    let accent = accents[rng.gen_range(0..accents.len())];
    let second = accents[(accents.iter().position(|a| *a == accent).unwrap_or(0) + 2) % 5];
    let mut c = Canvas::new(size, paper);
    let turn = rng.gen_range(0.0..TAU);
    match motif(style) {
        Motif::Sprig => {
            let leaves = if style == Style::Minimalist {
                3
            } else {
                rng.gen_range(6..=9)
            };
            let bend = rng.gen_range(0.1..0.3_f32);
            let stem = move |t: f32| (bend * (t * PI * 1.5 + turn).sin(), 0.8 - 1.6 * t);
            c.stroke(0.012, INK, stem);
            for k in 0..leaves {
                let t = 0.15 + 0.75 * k as f32 / leaves as f32;
                let (su, sv) = stem(t);
                let side = if k % 2 == 0 { 1.0 } else { -1.0 };
                let len = 0.28 * (1.0 - 0.5 * t);
                // A leaf is two arcs meeting at its tip.
                for bulge in [0.09_f32, -0.09] {
                    c.stroke(0.01, INK, |s| {
                        let along = s * len;
                        let off = bulge * (s * PI).sin();
                        (su + side * along * 0.8 + off * 0.6, sv - along * 0.6 + off)
                    });
                }
            }
        }
        Motif::Stipple => {
            let petals = rng.gen_range(5..=9) as f32;
            let grid = if style == Style::Handpoke {
                0.05
            } else {
                0.032
            };
            let mut v: f32 = -1.0;
            while v < 1.0 {
                let mut u: f32 = -1.0;
                while u < 1.0 {
                    let r = (u * u + v * v).sqrt();
                    let theta = v.atan2(u);
                    let petal = (petals * theta / 2.0 + turn).cos().abs();
                    let edge = 0.35 + 0.45 * petal;
                    // Denser towards the centre of each petal, fading to nothing at its edge.
                    let density = if r < edge {
                        (1.0 - r / edge).powf(0.7)
                    } else {
                        0.0
                    };
                    if rng.gen_bool(f64::from(density.clamp(0.0, 1.0))) {
                        c.dot(u, v, grid * 0.3, INK);
                    }
                    u += grid;
                }
                v += grid;
            }
        }
        Motif::Polygons => {
            let sides = rng.gen_range(3..=6);
            let sector = TAU / sides as f32;
            for (ring, radius) in [0.85_f32, 0.6, 0.35].into_iter().enumerate() {
                let spin = turn + ring as f32 * sector / 2.0;
                let corner = move |k: f32| {
                    let a = spin + k * sector;
                    (radius * a.cos(), radius * a.sin())
                };
                for k in 0..sides {
                    let (a, b) = (corner(k as f32), corner(k as f32 + 1.0));
                    c.stroke(0.012, INK, |t| {
                        (a.0 + (b.0 - a.0) * t, a.1 + (b.1 - a.1) * t)
                    });
                    c.stroke(0.006, INK, |t| (a.0 * t, a.1 * t));
                }
            }
            if style == Style::Ornamental {
                c.fill(INK, 1.0, |u, v| {
                    let r = (u * u + v * v).sqrt();
                    (0.12..0.2).contains(&r) && ((v.atan2(u) + PI) * 8.0 / PI) as i32 % 2 == 0
                });
            }
        }
        Motif::Solid => {
            let spikes = rng.gen_range(3..=6) as f32;
            c.fill(INK, 1.0, |u, v| {
                let r = (u * u + v * v).sqrt();
                let theta = v.atan2(u) + turn;
                let flame = 0.35 + 0.55 * (spikes * theta / 2.0).cos().abs().powf(6.0);
                let swirl = ((r * 9.0 + theta * 2.0).sin()).abs();
                r < flame && (style == Style::Blackwork || swirl > 0.25) && r > 0.1
            });
            if style == Style::Blackwork {
                // Negative-space bands cut back into the black.
                c.fill(paper, 1.0, |u, v| {
                    let r = (u * u + v * v).sqrt();
                    r < 0.7 && ((u * 0.7 + v * 0.7) * 14.0).sin() > 0.85
                });
            }
        }
        Motif::Heart => {
            let heart = |u: f32, v: f32, s: f32| {
                let (x, y) = (u / s, -(v + 0.05) / s);
                let q = x * x + y * y - 1.0;
                q * q * q - x * x * y * y * y < 0.0
            };
            c.fill(INK, 1.0, |u, v| heart(u, v, 0.66));
            c.fill(accent, 1.0, |u, v| heart(u, v, 0.6));
            c.fill([255, 255, 255], 0.6, |u, v| {
                let (du, dv) = (u + 0.22, v + 0.22);
                du * du + dv * dv < 0.006
            });
            c.fill(INK, 1.0, |u, v| {
                (-0.85..0.85).contains(&u) && (0.15..0.43).contains(&v)
            });
            c.fill([245, 236, 214], 1.0, |u, v| {
                (-0.81..0.81).contains(&u) && (0.19..0.39).contains(&v)
            });
            c.fill(second, 1.0, |u, v| {
                (-0.7..0.7).contains(&u) && (0.27..0.31).contains(&v)
            });
        }
        Motif::Wash => {
            for k in 0..5 {
                let colour = accents[(k + seed as usize) % accents.len()];
                let (cu, cv) = (rng.gen_range(-0.4..0.4_f32), rng.gen_range(-0.4..0.4_f32));
                let radius = rng.gen_range(0.25..0.45_f32);
                let wobble = rng.gen_range(3.0..7.0_f32);
                c.fill(colour, 0.45, |u, v| {
                    let (du, dv) = (u - cu, v - cv);
                    let theta = dv.atan2(du);
                    (du * du + dv * dv).sqrt() < radius * (1.0 + 0.15 * (wobble * theta).sin())
                });
            }
            for _ in 0..60 {
                let (u, v) = (rng.gen_range(-0.9..0.9_f32), rng.gen_range(-0.9..0.9_f32));
                c.dot(u, v, rng.gen_range(0.005..0.02), accent);
            }
            c.stroke(0.008, INK, |t| {
                let a = t * TAU;
                (0.5 * a.cos(), 0.35 * a.sin() - 0.1 * (2.0 * a).sin())
            });
        }
        Motif::Waves => {
            let blue = [32, 70, 140];
            c.fill(blue, 0.85, |u, v| u * u + v * v < 0.8);
            // Seigaiha: rows of concentric arcs, each row half a scale across from the last.
            let scale = 0.22;
            let mut row = 0;
            let mut cv = -0.9;
            while cv < 1.0 {
                let shift = if row % 2 == 0 { 0.0 } else { scale };
                let mut cu = -1.1 + shift;
                while cu < 1.1 {
                    for ring in [scale, scale * 0.7, scale * 0.4] {
                        c.stroke(0.01, [240, 240, 235], |t| {
                            let a = PI + t * PI;
                            (cu + ring * a.cos(), cv + ring * a.sin())
                        });
                    }
                    cu += scale * 2.0;
                }
                cv += scale * 0.6;
                row += 1;
            }
            c.fill(paper, 1.0, |u, v| u * u + v * v >= 0.8);
            c.stroke(0.02, INK, |t| {
                (0.894 * (t * TAU).cos(), 0.894 * (t * TAU).sin())
            });
        }
        Motif::Shaded => {
            let light = (turn.cos() * 0.6, turn.sin() * 0.6);
            let size = c.img.width();
            for y in 0..size {
                for x in 0..size {
                    let (u, v) = (x as f32 / c.half - 1.0, y as f32 / c.half - 1.0);
                    let r2 = (u * u + v * v) / 0.49;
                    if r2 >= 1.0 {
                        continue;
                    }
                    let z = (1.0 - r2).sqrt();
                    let lit =
                        ((u / 0.7) * -light.0 + (v / 0.7) * -light.1 + z * 0.8).clamp(0.0, 1.0);
                    let shade = 1.0 - lit;
                    if style == Style::Illustrative {
                        // Hatching: darker areas get more lines.
                        if ((x + y) % 8) as f32 / 8.0 < shade * 0.9 {
                            c.blend(x, y, INK, 1.0);
                        }
                    } else {
                        c.blend(x, y, INK, shade * 0.9);
                    }
                }
            }
            if style == Style::Surrealism {
                c.fill(accent, 1.0, |u, v| u * u + v * v < 0.06);
                c.fill(INK, 1.0, |u, v| u * u + v * v < 0.02);
            }
        }
        Motif::Script => {
            let loops = rng.gen_range(5..=8) as f32;
            for (line, base) in [-0.2_f32, 0.25].into_iter().enumerate() {
                let width = 1.4 - 0.3 * line as f32;
                c.stroke(0.016, INK, |t| {
                    let a = t * loops * TAU;
                    let u = -width / 2.0 + width * t + 0.06 * a.cos();
                    let v = base - 0.12 * a.sin().abs().powf(0.6) * (a / 2.0).sin().signum();
                    (u, v)
                });
            }
            c.stroke(0.01, INK, |t| {
                (-0.7 + 1.4 * t, 0.48 + 0.03 * (t * TAU).sin())
            });
        }
    }
    c.img
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ink_share(img: &RgbImage) -> f32 {
        let dark = img.pixels().filter(|p| p.0.iter().all(|&c| c < 70)).count();
        dark as f32 / (img.width() * img.height()) as f32
    }

    fn colourful_share(img: &RgbImage) -> f32 {
        let vivid = img
            .pixels()
            .filter(|p| {
                let (max, min) = (*p.0.iter().max().unwrap(), *p.0.iter().min().unwrap());
                max - min > 40
            })
            .count();
        vivid as f32 / (img.width() * img.height()) as f32
    }

    #[test]
    fn designs_differ_by_seed_and_use_ink() {
        for style in Style::ALL {
            let a = draw_design(1, *style, 96);
            let b = draw_design(2, *style, 96);
            assert_ne!(a.as_raw(), b.as_raw(), "{style:?}");
            assert!(ink_share(&a) > 0.005, "{style:?} drew no ink");
        }
    }

    #[test]
    fn styles_read_differently() {
        let fine = draw_design(3, Style::FineLine, 160);
        let black = draw_design(3, Style::Blackwork, 160);
        let watercolour = draw_design(3, Style::Watercolour, 160);
        let traditional = draw_design(3, Style::Traditional, 160);
        let dotwork = draw_design(3, Style::Dotwork, 160);
        assert!(ink_share(&fine) < 0.08, "fine line is light");
        assert!(
            ink_share(&black) > 4.0 * ink_share(&fine),
            "blackwork is heavy"
        );
        for ink_only in [&fine, &black, &dotwork] {
            assert!(colourful_share(ink_only) < 0.01, "black and grey only");
        }
        assert!(
            colourful_share(&watercolour) > 0.1,
            "watercolour has colour"
        );
        assert!(colourful_share(&traditional) > 0.1, "traditional is filled");
        let motifs: std::collections::HashSet<_> = Style::ALL.iter().map(|s| motif(*s)).collect();
        assert!(motifs.len() >= 9, "every motif is used");
    }
}
