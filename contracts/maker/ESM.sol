// SPDX-License-Identifier: AGPL-3.0-or-later
// Stand-in for makerdao/esm v2 (ESM, chainlog MCD_ESM) and a minimal dss End (chainlog MCD_END).
// ESM: same ABI, events and checks: join needs live == 1 and moves GOV in with transferFrom
// (no burn on join), burn() burns the ESM's whole balance and anyone may call it, fire() and
// denyProxy() need live == 1 and Sum >= min, fire() first removes the pause proxy's ward on the
// End (when a proxy is set) and then cages it. The 2025 mainnet disabling (min = 2^256-1) can be
// reproduced with file("min", type(uint256).max).
// End: only what the ESM touches (wards, rely/deny, live, cage). The real End's cage also cages
// the Vat, Cat/Dog, Vow, etc.; here it only records live = 0 and the time. Its auth message is
// "End/not-authorized", as in dss.
pragma solidity ^0.8.24;

interface EsmGemLike {
    function balanceOf(address usr) external view returns (uint256);
    function transferFrom(address src, address dst, uint256 wad) external returns (bool);
    function burn(uint256 wad) external;
}

interface EsmEndLike {
    function cage() external;
}

interface EsmDenyLike {
    function deny(address usr) external;
}

contract ESM {
    uint256 internal constant WAD = 10 ** 18;

    EsmGemLike public immutable gem;
    EsmEndLike public immutable end;
    address public immutable proxy; // pause proxy whose access fire()/denyProxy() revoke

    mapping(address => uint256) public wards;
    mapping(address => uint256) public sum; // GOV joined per user
    uint256 public Sum; // GOV joined in total
    uint256 public min; // threshold for fire()/denyProxy()
    uint256 public live;

    event Rely(address indexed usr);
    event Deny(address indexed usr);
    event File(bytes32 indexed what, uint256 data);
    event Cage();
    event Fire();
    event DenyProxy(address indexed base, address indexed pause);
    event Join(address indexed usr, uint256 wad);
    event Burn(uint256 wad);

    modifier auth() {
        require(wards[msg.sender] == 1, "ESM/not-authorized");
        _;
    }

    constructor(address gem_, address end_, address proxy_, uint256 min_) {
        gem = EsmGemLike(gem_);
        end = EsmEndLike(end_);
        proxy = proxy_;
        min = min_;
        live = 1;
        wards[msg.sender] = 1;
        emit Rely(msg.sender);
    }

    // True when firing also cuts the pause proxy's access.
    function revokesGovernanceAccess() external view returns (bool) {
        return proxy != address(0);
    }

    function rely(address usr) external auth {
        wards[usr] = 1;
        emit Rely(usr);
    }

    function deny(address usr) external auth {
        wards[usr] = 0;
        emit Deny(usr);
    }

    function file(bytes32 what, uint256 data) external auth {
        if (what == "min") {
            require(data > WAD, "ESM/min-too-small");
            min = data;
        } else {
            revert("ESM/file-unrecognized-param");
        }
        emit File(what, data);
    }

    function cage() external auth {
        live = 0;
        emit Cage();
    }

    function fire() external {
        require(live == 1, "ESM/permanently-disabled");
        require(Sum >= min, "ESM/min-not-reached");
        if (proxy != address(0)) {
            EsmDenyLike(address(end)).deny(proxy);
        }
        end.cage();
        emit Fire();
    }

    function denyProxy(address target) external {
        require(live == 1, "ESM/permanently-disabled");
        require(Sum >= min, "ESM/min-not-reached");
        EsmDenyLike(target).deny(proxy);
        emit DenyProxy(target, proxy);
    }

    function join(uint256 wad) external {
        require(live == 1, "ESM/permanently-disabled");
        sum[msg.sender] += wad;
        Sum += wad;
        require(gem.transferFrom(msg.sender, address(this), wad), "ESM/transfer-failed");
        emit Join(msg.sender, wad);
    }

    function burn() external {
        uint256 wad = gem.balanceOf(address(this));
        gem.burn(wad);
        emit Burn(wad);
    }
}

contract End {
    mapping(address => uint256) public wards;
    uint256 public live;
    uint256 public when; // time of cage()

    event Rely(address indexed usr);
    event Deny(address indexed usr);
    event Cage();

    modifier auth() {
        require(wards[msg.sender] == 1, "End/not-authorized");
        _;
    }

    constructor() {
        wards[msg.sender] = 1;
        live = 1;
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

    function cage() external auth {
        require(live == 1, "End/not-live");
        live = 0;
        when = block.timestamp;
        emit Cage();
    }
}
