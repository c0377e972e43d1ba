// SPDX-License-Identifier: AGPL-3.0-or-later
// Stand-in for the new Chief (makerdao/chief, chainlog MCD_ADM since May 2025), voting with SKY.
// Same as mainnet (shared/spec/sky-governance.md): constructor (gov, maxYays, launchThreshold,
// liftCooldown); no IOU (an `IOU()` call reverts, which is how clients tell it from DSChief
// 1.2); `lock` pulls gov with transferFrom and `free` returns it; `last` is the block of the
// latest lift or launch, `free` reverts while block.number <= last and `lift` needs
// block.number == last or > last + liftCooldown; strictly ascending slates of at most maxYays;
// plain events (no LogNote); `canCall` is live && caller == hat. Revert strings are mainnet's.
// Also as mainnet: a lock and a lift (or launch) in one transaction revert, so a flash loan cannot
// take the hat. Differences: checked 0.8 arithmetic with plain loops; none the client relies on.
pragma solidity ^0.8.24;

interface ChiefGemLike {
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

contract Chief {
    bytes32 public constant EMPTY_SLATE = keccak256(abi.encodePacked(new address[](0)));

    ChiefGemLike public immutable gov;
    uint256 public immutable maxYays;
    uint256 public immutable launchThreshold;
    uint256 public immutable liftCooldown;

    uint256 public live;
    address public hat;
    uint256 public last;
    mapping(bytes32 => address[]) public slates;
    mapping(address => bytes32) public votes;
    mapping(address => uint256) public approvals;
    mapping(address => uint256) public deposits;

    event Launch();
    event Lock(uint256 wad);
    event Free(uint256 wad);
    event Etch(bytes32 indexed slate, address[] yays);
    event Vote(bytes32 indexed slate);
    event Lift(address indexed whom);

    constructor(address gov_, uint256 maxYays_, uint256 launchThreshold_, uint256 liftCooldown_) {
        gov = ChiefGemLike(gov_);
        maxYays = maxYays_;
        launchThreshold = launchThreshold_;
        liftCooldown = liftCooldown_;
    }

    // The old getters' names, which clients and VoteDelegates still call.
    function GOV() external view returns (address) {
        return address(gov);
    }

    function MAX_YAYS() external view returns (uint256) {
        return maxYays;
    }

    function length(bytes32 slate) external view returns (uint256) {
        return slates[slate].length;
    }

    function canCall(address caller, address, bytes4) external view returns (bool) {
        return live == 1 && caller == hat;
    }

    function launch() external {
        require(live == 0, "Chief/already-live");
        require(hat == address(0), "Chief/not-address-zero");
        require(approvals[address(0)] >= launchThreshold, "Chief/less-than-threshold");
        _noLockInThisTransaction();
        live = 1;
        last = block.number;
        emit Launch();
    }

    function lock(uint256 wad) external {
        assembly {
            tstore(0, 1)
        }
        require(gov.transferFrom(msg.sender, address(this), wad), "Chief/transfer-failed");
        deposits[msg.sender] += wad;
        _addWeight(wad, votes[msg.sender]);
        emit Lock(wad);
    }

    function free(uint256 wad) external {
        require(block.number > last, "Chief/cant-free-same-block");
        deposits[msg.sender] -= wad;
        _subWeight(wad, votes[msg.sender]);
        require(gov.transfer(msg.sender, wad), "Chief/transfer-failed");
        emit Free(wad);
    }

    function etch(address[] memory yays) public returns (bytes32 slate) {
        require(yays.length <= maxYays, "Chief/greater-max-yays");
        for (uint256 i = 1; i < yays.length; i++) {
            require(uint160(yays[i - 1]) < uint160(yays[i]), "Chief/yays-not-ordered");
        }
        slate = keccak256(abi.encodePacked(yays));
        slates[slate] = yays;
        emit Etch(slate, yays);
    }

    function vote(address[] memory yays) external returns (bytes32 slate) {
        slate = etch(yays);
        vote(slate);
    }

    function vote(bytes32 slate) public {
        require(slates[slate].length > 0 || slate == EMPTY_SLATE, "Chief/invalid-slate");
        uint256 weight = deposits[msg.sender];
        _subWeight(weight, votes[msg.sender]);
        votes[msg.sender] = slate;
        _addWeight(weight, slate);
        emit Vote(slate);
    }

    function lift(address whom) external {
        require(block.number == last || block.number > last + liftCooldown, "Chief/cant-lift-again-yet");
        require(approvals[whom] > approvals[hat], "Chief/not-higher-current-hat");
        _noLockInThisTransaction();
        hat = whom;
        last = block.number;
        emit Lift(whom);
    }

    // A flash loan of SKY locked and lifted in one transaction must not win the hat.
    function _noLockInThisTransaction() internal view {
        uint256 locked;
        assembly {
            locked := tload(0)
        }
        require(locked == 0, "Chief/prev-lock-in-same-tx");
    }

    function _addWeight(uint256 weight, bytes32 slate) internal {
        address[] storage yays = slates[slate];
        for (uint256 i = 0; i < yays.length; i++) {
            approvals[yays[i]] += weight;
        }
    }

    function _subWeight(uint256 weight, bytes32 slate) internal {
        address[] storage yays = slates[slate];
        for (uint256 i = 0; i < yays.length; i++) {
            approvals[yays[i]] -= weight;
        }
    }
}
