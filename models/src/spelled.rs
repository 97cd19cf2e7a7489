//! Enums spelled by name in flags, cards and manifests (`bilinear`,
//! `channels-last`, `bf16`): one table of names per enum, read both ways,
//! instead of a `match` to print and another to parse that can drift apart.

/// Spells a fieldless enum by a fixed table of names: `NAMES`, `name()`,
/// `Display`, and `FromStr`, whose error for an unknown name says the names
/// known ("\"x\": use a, b or c"), or what an `else` closure makes of it.
///
/// ```
/// #[derive(Debug, Clone, Copy, PartialEq)]
/// enum Layout { Contiguous, ChannelsLast }
/// cnnzoo_models::spelled!(Layout { Contiguous = "contiguous", ChannelsLast = "channels-last" });
/// assert_eq!("channels-last".parse::<Layout>(), Ok(Layout::ChannelsLast));
/// assert_eq!(Layout::Contiguous.to_string(), "contiguous");
/// assert_eq!("nhwc".parse::<Layout>().unwrap_err(), "\"nhwc\": use contiguous or channels-last");
/// ```
#[macro_export]
macro_rules! spelled {
    ($ty:ident { $($variant:ident = $name:literal),+ $(,)? }) => {
        $crate::spelled!($ty { $($variant = $name),+ } else |s: &str| format!("{s:?}: use {}", $crate::spelled::one_of($ty::NAMES)));
    };
    ($ty:ident { $($variant:ident = $name:literal),+ $(,)? } else $refuse:expr) => {
        impl $ty {
            /// Every name, in the order of the variants.
            pub const NAMES: &'static [&'static str] = &[$($name),+];

            /// The name this value is spelled by.
            pub fn name(self) -> &'static str {
                match self {
                    $($ty::$variant => $name),+
                }
            }
        }

        impl ::std::fmt::Display for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.name())
            }
        }

        impl ::std::str::FromStr for $ty {
            type Err = String;

            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err(($refuse)(s)),
                }
            }
        }
    };
}

/// `a`, `a or b`, `a, b or c`.
pub fn one_of(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [rest @ .., last] => format!("{} or {last}", rest.join(", ")),
    }
}
