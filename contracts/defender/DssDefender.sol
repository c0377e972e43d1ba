// SPDX-License-Identifier: AGPL-3.0-or-later
pragma solidity ^0.8.24;

// Reference implementation of MIP91's dss-defender, per shared/spec/dss-defender.md.
//
// One instance holds its depositors' MKR locked in DSChief, all of it voting for the instance's
// default spell. When deposits first reach `threshold` the instance activates and, for
// `cancelDuration`, anyone may drop queued DSPause plans through it (DefenderAuthority lets it).
// Each deposit is locked for `lockupDuration` unless governance releases the instance early;
// a depositor may always move locked MKR into the ESM.

interface DefenderTokenLike {
    function transfer(address, uint256) external returns (bool);
    function transferFrom(address, address, uint256) external returns (bool);
    function approve(address, uint256) external returns (bool);
}

interface DefenderChiefLike {
    function GOV() external view returns (address);
    function IOU() external view returns (address);
    function lock(uint256) external;
    function free(uint256) external;
    function vote(address[] calldata) external returns (bytes32);
}

interface DefenderPauseLike {
    function plans(bytes32) external view returns (bool);
    function drop(address, bytes32, bytes calldata, uint256) external;
}

interface DefenderEsmLike {
    function join(uint256) external;
}

contract DssDefender {
    // --- auth: governance (the pause proxy) and, at deployment, the factory ---
    mapping(address => uint256) public wards;

    // --- wiring and parameters, fixed per instance (MIP91c1) ---
    address public immutable gov;
    address public immutable iou;
    address public immutable chief;
    address public immutable pause;
    address public immutable esm;
    uint256 public immutable threshold;
    uint256 public immutable cancelDuration;
    uint256 public immutable lockupDuration;
    address public spell;

    // --- state ---
    uint256 public live;
    uint256 public released;
    uint256 public activatedAt;
    uint256 public total;
    mapping(address => uint256) public deposits;
    mapping(address => uint256) public unlockAt;

    event Rely(address indexed usr);
    event Deny(address indexed usr);
    event Init(address indexed spell);
    event Deposit(address indexed usr, uint256 wad, uint256 unlockAt);
    event Activate(uint256 total);
    event Cancel(address indexed caller, bytes32 indexed plan, address usr, bytes32 tag, uint256 eta);
    event Withdraw(address indexed usr, uint256 wad);
    event MoveToEsm(address indexed usr, uint256 wad);
    event Release();
    event Cage();

    modifier auth() {
        require(wards[msg.sender] == 1, "DssDefender/not-authorized");
        _;
    }

    constructor(
        address chief_,
        address pause_,
        address esm_,
        uint256 threshold_,
        uint256 cancelDuration_,
        uint256 lockupDuration_
    ) {
        require(threshold_ > 0, "DssDefender/zero-threshold");
        chief = chief_;
        pause = pause_;
        esm = esm_;
        gov = DefenderChiefLike(chief_).GOV();
        iou = DefenderChiefLike(chief_).IOU();
        threshold = threshold_;
        cancelDuration = cancelDuration_;
        lockupDuration = lockupDuration_;
        live = 1;
        wards[msg.sender] = 1;
        emit Rely(msg.sender);

        // The chief pulls GOV on lock and burns IOU on free; the ESM pulls GOV on join.
        DefenderTokenLike(gov).approve(chief_, type(uint256).max);
        DefenderTokenLike(iou).approve(chief_, type(uint256).max);
        DefenderTokenLike(gov).approve(esm_, type(uint256).max);
    }

    // --- administration ---
    function rely(address usr) external auth {
        wards[usr] = 1;
        emit Rely(usr);
    }

    function deny(address usr) external auth {
        wards[usr] = 0;
        emit Deny(usr);
    }

    /// Binds the instance to its default spell (deployed after it, since the spell checks this
    /// instance's cancel window) and puts the instance's whole chief weight on `[spell]`.
    function init(address spell_) external auth {
        require(spell == address(0), "DssDefender/already-initialised");
        require(spell_ != address(0), "DssDefender/zero-spell");
        spell = spell_;
        address[] memory slate = new address[](1);
        slate[0] = spell_;
        DefenderChiefLike(chief).vote(slate);
        emit Init(spell_);
    }

    /// Governance allows early withdrawals (the default spell does this).
    function release() external auth {
        released = 1;
        emit Release();
    }

    /// Ends deposits, activation and cancelling; withdraw and moveToEsm keep working.
    function cage() external auth {
        live = 0;
        emit Cage();
    }

    // --- views ---
    function canceling() public view returns (bool) {
        return live == 1 && activatedAt != 0 && block.timestamp < activatedAt + cancelDuration;
    }

    // --- actions ---
    function deposit(uint256 wad) external {
        require(live == 1, "DssDefender/not-live");
        require(spell != address(0), "DssDefender/not-initialised");
        require(wad > 0, "DssDefender/zero-amount");
        require(DefenderTokenLike(gov).transferFrom(msg.sender, address(this), wad), "DssDefender/transfer-failed");
        DefenderChiefLike(chief).lock(wad);

        deposits[msg.sender] += wad;
        total += wad;
        uint256 until = block.timestamp + lockupDuration;
        unlockAt[msg.sender] = until;
        emit Deposit(msg.sender, wad, until);

        if (activatedAt == 0 && total >= threshold) {
            activatedAt = block.timestamp;
            emit Activate(total);
        }
    }

    function cancel(address usr, bytes32 tag, bytes calldata fax, uint256 eta) external {
        require(canceling(), "DssDefender/not-canceling");
        bytes32 plan = keccak256(abi.encode(usr, tag, fax, eta));
        require(DefenderPauseLike(pause).plans(plan), "DssDefender/plan-not-queued");
        DefenderPauseLike(pause).drop(usr, tag, fax, eta);
        emit Cancel(msg.sender, plan, usr, tag, eta);
    }

    function withdraw(uint256 wad) external {
        require(released == 1 || block.timestamp >= unlockAt[msg.sender], "DssDefender/locked");
        _take(msg.sender, wad);
        DefenderChiefLike(chief).free(wad);
        require(DefenderTokenLike(gov).transfer(msg.sender, wad), "DssDefender/transfer-failed");
        emit Withdraw(msg.sender, wad);
    }

    function moveToEsm(uint256 wad) external {
        _take(msg.sender, wad);
        DefenderChiefLike(chief).free(wad);
        DefenderEsmLike(esm).join(wad);
        emit MoveToEsm(msg.sender, wad);
    }

    function _take(address usr, uint256 wad) internal {
        require(wad > 0, "DssDefender/zero-amount");
        require(deposits[usr] >= wad, "DssDefender/insufficient-deposit");
        deposits[usr] -= wad;
        total -= wad;
    }
}
