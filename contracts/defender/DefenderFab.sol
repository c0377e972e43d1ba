// SPDX-License-Identifier: AGPL-3.0-or-later
pragma solidity ^0.8.24;

import {DssDefender} from "./DssDefender.sol";
import {DefaultSpell, DefaultSpellAction} from "./DefaultSpell.sol";

// Deploys a dss-defender instance together with its default spell, wired to each other, and
// hands the instance to `owner` (governance's pause proxy). Used by the devnet for the first
// instance and by each default spell for the next one (MIP91c3, MIP91c4).
contract DefenderFab {
    event NewDefender(address indexed defender, address indexed spell, address indexed owner);

    function newDefender(
        address chief,
        address pause,
        address esm,
        uint256 threshold,
        uint256 cancelDuration,
        uint256 lockupDuration,
        address authority,
        address chainlog,
        address owner
    ) external returns (address defender, address spell) {
        DssDefender instance = new DssDefender(chief, pause, esm, threshold, cancelDuration, lockupDuration);
        DefaultSpellAction action = new DefaultSpellAction(address(instance), address(this), authority, chainlog);
        DefaultSpell defaultSpell = new DefaultSpell(pause, address(instance), address(action));
        instance.init(address(defaultSpell));
        instance.rely(owner);
        instance.deny(address(this));
        defender = address(instance);
        spell = address(defaultSpell);
        emit NewDefender(defender, spell, owner);
    }
}
