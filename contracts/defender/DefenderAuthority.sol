// SPDX-License-Identifier: AGPL-3.0-or-later
pragma solidity ^0.8.24;

// DSPause's authority once dss-defender is installed: everything the chief's hat could do before,
// plus `drop` for the live defender instance while it is canceling (MIP91c2). It tracks the single
// live instance (MIP91c4); the default spell moves it to the next instance.

interface AuthorityChiefLike {
    function canCall(address, address, bytes4) external view returns (bool);
}

interface AuthorityDefenderLike {
    function canceling() external view returns (bool);
}

contract DefenderAuthority {
    // DSPause.drop(address,bytes32,bytes,uint256)
    bytes4 public constant DROP = 0x162c7de3;

    mapping(address => uint256) public wards;
    address public immutable chief;
    address public immutable pause;
    address public defender;

    event Rely(address indexed usr);
    event Deny(address indexed usr);
    event SetDefender(address indexed defender);

    modifier auth() {
        require(wards[msg.sender] == 1, "DefenderAuthority/not-authorized");
        _;
    }

    constructor(address chief_, address pause_) {
        chief = chief_;
        pause = pause_;
        wards[msg.sender] = 1;
        emit Rely(msg.sender);
    }

    function rely(address usr) external auth {
        wards[usr] = 1;
        emit Rely(usr);
    }

    function deny(address usr) external auth {
        wards[usr] = 0;
        emit Deny(usr);
    }

    function setDefender(address defender_) external auth {
        defender = defender_;
        emit SetDefender(defender_);
    }

    function canCall(address src, address dst, bytes4 sig) external view returns (bool) {
        if (AuthorityChiefLike(chief).canCall(src, dst, sig)) return true;
        return src == defender && src != address(0) && dst == pause && sig == DROP
            && AuthorityDefenderLike(defender).canceling();
    }
}
