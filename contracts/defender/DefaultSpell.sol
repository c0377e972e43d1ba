// SPDX-License-Identifier: AGPL-3.0-or-later
pragma solidity ^0.8.24;

// The default executive of a dss-defender instance (MIP91c3), shaped like a DssExec spell so
// that the client and voters treat it as any other spell. Its action releases the instance's
// deposits early and replaces the instance with a fresh one of the same parameters (MIP91c4).
// `schedule()` only works once the instance has activated and its cancel window is over: queued
// any earlier, the plan could be dropped through the instance itself, or pre-empt the window.

interface SpellPauseLike {
    function delay() external view returns (uint256);
    function plot(address, bytes32, bytes calldata, uint256) external;
    function exec(address, bytes32, bytes calldata, uint256) external returns (bytes memory);
}

interface SpellDefenderLike {
    function activatedAt() external view returns (uint256);
    function cancelDuration() external view returns (uint256);
    function chief() external view returns (address);
    function pause() external view returns (address);
    function esm() external view returns (address);
    function threshold() external view returns (uint256);
    function lockupDuration() external view returns (uint256);
    function release() external;
    function cage() external;
}

interface SpellAuthorityLike {
    function defender() external view returns (address);
    function setDefender(address) external;
}

interface SpellChainlogLike {
    function setAddress(bytes32, address) external;
}

interface SpellFabLike {
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
    ) external returns (address defender, address spell);
}

/// Runs inside DSPauseProxy (by delegatecall), so it acts with governance's authority; its
/// parameters are immutables because a delegatecall cannot read this contract's storage.
contract DefaultSpellAction {
    address public immutable defender;
    address public immutable fab;
    address public immutable authority;
    address public immutable chainlog;

    constructor(address defender_, address fab_, address authority_, address chainlog_) {
        defender = defender_;
        fab = fab_;
        authority = authority_;
        chainlog = chainlog_;
    }

    function execute() external {
        SpellDefenderLike old = SpellDefenderLike(defender);
        old.release();
        // Only the live instance is replaced: if governance already installed another one,
        // releasing this instance's deposits is all that is left to do (MIP91c4: at most one).
        if (SpellAuthorityLike(authority).defender() != defender) return;
        old.cage();
        (address next,) = SpellFabLike(fab).newDefender(
            old.chief(),
            old.pause(),
            old.esm(),
            old.threshold(),
            old.cancelDuration(),
            old.lockupDuration(),
            authority,
            chainlog,
            address(this)
        );
        SpellAuthorityLike(authority).setDefender(next);
        if (chainlog != address(0)) SpellChainlogLike(chainlog).setAddress("MCD_DEFENDER", next);
    }
}

contract DefaultSpell {
    address public immutable pause;
    address public immutable defender;
    address public immutable action;
    bytes32 public immutable tag;
    uint256 public constant expiration = type(uint256).max;
    bytes public sig;
    uint256 public eta;
    bool public done;
    string public description;

    constructor(address pause_, address defender_, address action_) {
        pause = pause_;
        defender = defender_;
        action = action_;
        bytes32 codehash;
        assembly {
            codehash := extcodehash(action_)
        }
        tag = codehash;
        sig = abi.encodeWithSignature("execute()");
        description = "dss-defender default spell: release deposits early and deploy a new instance";
    }

    function nextCastTime() external view returns (uint256) {
        return eta;
    }

    function schedule() external {
        require(eta == 0, "DefaultSpell/already-scheduled");
        uint256 activatedAt = SpellDefenderLike(defender).activatedAt();
        require(activatedAt != 0, "DefaultSpell/defender-not-activated");
        require(
            block.timestamp >= activatedAt + SpellDefenderLike(defender).cancelDuration(),
            "DefaultSpell/cancel-window-open"
        );
        eta = block.timestamp + SpellPauseLike(pause).delay();
        SpellPauseLike(pause).plot(action, tag, sig, eta);
    }

    function cast() external {
        require(!done, "DefaultSpell/already-cast");
        require(eta != 0, "DefaultSpell/not-scheduled");
        done = true;
        SpellPauseLike(pause).exec(action, tag, sig, eta);
    }
}
