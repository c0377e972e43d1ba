//! Which Ledger is at the other end. Every current model runs the same Ethereum app and
//! answers the same APDUs, but draws different screens: the Nanos page with buttons, the touch
//! models (Stax, Flex, Apex) group fields on pages and sign with a long press. Over USB the
//! model is in the product id's high byte (vendor 0x2C97; coins-ledger 0.17.1 knows no Apex);
//! Speculos's TCP port carries no product id, so the user names it (`--ledger-model`).

/// A Ledger model.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LedgerModel {
    NanoS,
    NanoSPlus,
    NanoX,
    Stax,
    Flex,
    ApexP,
    ApexM,
}

impl LedgerModel {
    /// The model of a USB product id: the high byte (0x40xx Nano X, 0x50xx Nano S Plus, 0x60xx
    /// Stax, 0x70xx Flex, 0x80xx Apex P, 0x90xx Apex M), or a legacy id (0x0001, 0x0004-0x0009).
    pub fn from_product_id(product_id: u16) -> Option<Self> {
        let kind = match product_id {
            0x0001 | 0x0004..=0x0009 => product_id,
            _ => product_id >> 12,
        };
        match kind {
            0x1 => Some(Self::NanoS),
            0x4 => Some(Self::NanoX),
            0x5 => Some(Self::NanoSPlus),
            0x6 => Some(Self::Stax),
            0x7 => Some(Self::Flex),
            0x8 => Some(Self::ApexP),
            0x9 => Some(Self::ApexM),
            _ => None,
        }
    }

    /// As Ledger names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::NanoS => "Nano S",
            Self::NanoSPlus => "Nano S Plus",
            Self::NanoX => "Nano X",
            Self::Stax => "Stax",
            Self::Flex => "Flex",
            Self::ApexP => "Apex P",
            Self::ApexM => "Apex M",
        }
    }

    /// A touch screen with pages (and "Hold to sign"), not buttons.
    pub fn touch(self) -> bool {
        matches!(self, Self::Stax | Self::Flex | Self::ApexP | Self::ApexM)
    }
}

/// `--ledger-model`: the model behind Speculos.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum ModelArg {
    #[default]
    Nanosp,
    Nanox,
    Stax,
    Flex,
    #[value(name = "apex_p")]
    ApexP,
}

impl From<ModelArg> for LedgerModel {
    fn from(arg: ModelArg) -> Self {
        match arg {
            ModelArg::Nanosp => Self::NanoSPlus,
            ModelArg::Nanox => Self::NanoX,
            ModelArg::Stax => Self::Stax,
            ModelArg::Flex => Self::Flex,
            ModelArg::ApexP => Self::ApexP,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_product_id_of_the_recording_names_its_model() {
        let cases = [
            (0x4011, LedgerModel::NanoX),
            (0x5011, LedgerModel::NanoSPlus),
            (0x6011, LedgerModel::Stax),
            (0x7011, LedgerModel::Flex),
            (0x8011, LedgerModel::ApexP),
            (0x9011, LedgerModel::ApexM),
            (0x0004, LedgerModel::NanoX),
            (0x0005, LedgerModel::NanoSPlus),
            (0x0008, LedgerModel::ApexP),
        ];
        for (pid, model) in cases {
            assert_eq!(LedgerModel::from_product_id(pid), Some(model), "{pid:#06x}");
        }
        assert_eq!(LedgerModel::from_product_id(0xB011), None);
        assert!(LedgerModel::ApexP.touch() && !LedgerModel::NanoX.touch());
        assert_eq!(LedgerModel::from(ModelArg::ApexP).name(), "Apex P");
    }
}
