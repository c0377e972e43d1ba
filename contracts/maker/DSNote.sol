// SPDX-License-Identifier: AGPL-3.0-or-later
// Stand-in for dapphub/ds-note (used by ds-chief, ds-pause and MKR on mainnet).
// Same anonymous LogNote event and the same emission order (the note is logged before the body
// runs). Difference: written for Solidity 0.8; msg.value is read with `callvalue()` so the
// modifier can sit on non-payable functions.
pragma solidity ^0.8.24;

abstract contract DSNote {
    event LogNote(
        bytes4 indexed sig,
        address indexed guy,
        bytes32 indexed foo,
        bytes32 indexed bar,
        uint256 wad,
        bytes fax
    ) anonymous;

    modifier note() {
        bytes32 foo;
        bytes32 bar;
        uint256 wad;
        assembly {
            foo := calldataload(4)
            bar := calldataload(36)
            wad := callvalue()
        }
        emit LogNote(msg.sig, msg.sender, foo, bar, wad, msg.data);
        _;
    }
}
