// SPDX-License-Identifier: AGPL-3.0-or-later
// Stand-in for dapphub/ds-pause (DSPause, mainnet 0xbE286431454714F511008713973d3B053A2d38f3,
// chainlog MCD_PAUSE; DSPauseProxy, chainlog MCD_PAUSE_PROXY).
// Same ABI, plan ids (keccak256(abi.encode(usr, tag, fax, eta))), LogNote on plot/drop/exec/
// setDelay, revert strings and checks. As on mainnet, drop() of a plan that was never plotted
// succeeds (it just writes false), and owner/authority/delay can only be changed by the proxy,
// i.e. by a plan that went through the delay.
// Difference: 0.8 checked addition replaces the "ds-pause-addition-overflow" helper (an overflow
// in block.timestamp + delay still reverts, with a Panic instead of that string).
pragma solidity ^0.8.24;

import "./DSAuth.sol";
import "./DSNote.sol";

contract DSPause is DSAuth, DSNote {
    mapping(bytes32 => bool) public plans;
    DSPauseProxy public proxy;
    uint256 public delay;

    // Only a delayed plan, running as the proxy, may reconfigure the pause.
    modifier wait() {
        require(msg.sender == address(proxy), "ds-pause-undelayed-call");
        _;
    }

    constructor(uint256 delay_, address owner_, DSAuthority authority_) {
        delay = delay_;
        owner = owner_;
        authority = authority_;
        proxy = new DSPauseProxy();
    }

    // --- admin (through the delay only) ---

    function setOwner(address owner_) public override wait {
        owner = owner_;
        emit LogSetOwner(owner_);
    }

    function setAuthority(DSAuthority authority_) public override wait {
        authority = authority_;
        emit LogSetAuthority(address(authority_));
    }

    function setDelay(uint256 delay_) public note wait {
        delay = delay_;
    }

    // --- plans ---

    function plot(address usr, bytes32 tag, bytes memory fax, uint256 eta) public note auth {
        require(eta >= block.timestamp + delay, "ds-pause-delay-not-respected");
        plans[_planId(usr, tag, fax, eta)] = true;
    }

    function drop(address usr, bytes32 tag, bytes memory fax, uint256 eta) public note auth {
        plans[_planId(usr, tag, fax, eta)] = false;
    }

    function exec(address usr, bytes32 tag, bytes memory fax, uint256 eta)
        public
        note
        returns (bytes memory out)
    {
        bytes32 id = _planId(usr, tag, fax, eta);
        require(plans[id], "ds-pause-unplotted-plan");
        require(usr.codehash == tag, "ds-pause-wrong-codehash");
        require(block.timestamp >= eta, "ds-pause-premature-exec");

        plans[id] = false;

        out = proxy.exec(usr, fax);
        require(proxy.owner() == address(this), "ds-pause-illegal-storage-change");
    }

    function _planId(address usr, bytes32 tag, bytes memory fax, uint256 eta) internal pure returns (bytes32) {
        return keccak256(abi.encode(usr, tag, fax, eta));
    }
}

// Runs plans by delegatecall, so that the executed code acts with the proxy's identity (the
// address that holds governance's wards everywhere). Only its deployer, the pause, may use it.
contract DSPauseProxy {
    address public owner;

    constructor() {
        owner = msg.sender;
    }

    function exec(address usr, bytes memory fax) public returns (bytes memory out) {
        require(msg.sender == owner, "ds-pause-proxy-unauthorized");
        bool ok;
        (ok, out) = usr.delegatecall(fax);
        require(ok, "ds-pause-delegatecall-error");
    }
}
