// SPDX-License-Identifier: AGPL-3.0-or-later
// Stand-in for makerdao/dss-exec-lib DssExec (an executive spell) plus an example action.
// Same ABI and rules: tag = extcodehash(action) taken at construction, sig = execute() calldata,
// schedule() (once, before expiration) plots action/tag/sig/now+delay on the pause, which only
// works while the spell is the chief's hat; cast() (once) execs the plan, which runs
// action.execute() by delegatecall as the pause proxy.
// Differences: the pause address is a constructor argument (mainnet DssExec reads MCD_PAUSE
// from the hard-coded mainnet chainlog); nextCastTime() returns eta (0 before schedule) without
// the office-hours adjustment of DssAction, and officeHours() is always false.
pragma solidity ^0.8.24;

interface DssExecPauseLike {
    function delay() external view returns (uint256);
    function plot(address usr, bytes32 tag, bytes calldata fax, uint256 eta) external;
    function exec(address usr, bytes32 tag, bytes calldata fax, uint256 eta) external returns (bytes memory);
}

interface MintActionTokenLike {
    function mint(address guy, uint256 wad) external;
}

contract DssExec {
    DssExecPauseLike public immutable pause;
    uint256 public immutable expiration;
    address public immutable action;
    bytes32 public immutable tag;
    string public description;
    bytes public sig;
    uint256 public eta;
    bool public done;

    constructor(address pause_, string memory description_, uint256 expiration_, address action_) {
        pause = DssExecPauseLike(pause_);
        description = description_;
        expiration = expiration_;
        action = action_;
        tag = action_.codehash;
        sig = abi.encodeWithSignature("execute()");
    }

    function officeHours() external pure returns (bool) {
        return false;
    }

    function nextCastTime() external view returns (uint256) {
        return eta;
    }

    function schedule() public {
        require(block.timestamp <= expiration, "This contract has expired");
        require(eta == 0, "This spell has already been scheduled");
        eta = block.timestamp + pause.delay();
        pause.plot(action, tag, sig, eta);
    }

    function cast() public {
        require(!done, "spell-already-cast");
        done = true;
        pause.exec(action, tag, sig, eta);
    }
}

// Example spell action: mints `wad` of `token` to `usr`. Runs by delegatecall in the pause
// proxy's context, so it mints with the proxy's authority (the devnet makes the proxy MKR's
// owner). The parameters are immutables, i.e. part of the code, so they survive delegatecall.
contract MintAction {
    address public immutable token;
    address public immutable usr;
    uint256 public immutable wad;

    constructor(address token_, address usr_, uint256 wad_) {
        token = token_;
        usr = usr_;
        wad = wad_;
    }

    function execute() external {
        MintActionTokenLike(token).mint(usr, wad);
    }
}
