// SPDX-License-Identifier: AGPL-3.0-or-later
// Stand-in for dapphub/ds-chief 1.2 (DSChief, mainnet 0x0a3f6849f78076aefaDf113F5BED87720274dDC0,
// chainlog key MCD_ADM before 2025, MCD_ADM_LEGACY after).
// Same ABI, storage semantics, events (Etch, LogNote) and revert conditions: lock/free/etch/
// vote/lift/launch, the same-block lock->free guard, strictly ascending slates of at most
// MAX_YAYS, the empty slate accepted by vote(bytes32), the hat as the only (root) user that
// canCall grants once launched, setOwner/setAuthority disabled.
// Differences:
//  - only the DSRoles parts that matter are kept: canCall/isUserRoot (the hat is root once live);
//    the role-management setters of DSRoles are left out (on the chief they can only ever be
//    reached by the hat anyway).
//  - mainnet's bare require()s carry reason strings here ("ds-chief-..."), same conditions.
//  - checked 0.8 arithmetic instead of DSMath (same reverts on overflow/underflow).
pragma solidity ^0.8.24;

import "./DSAuth.sol";
import "./DSNote.sol";
import "./DSToken.sol";

contract DSChief is DSAuth, DSNote, DSAuthority {
    // keccak256 of an empty packed address list: voting for it means "vote for nobody".
    bytes32 internal constant EMPTY_SLATE = keccak256("");
    uint256 internal constant LAUNCH_THRESHOLD = 80_000 ether;

    mapping(bytes32 => address[]) public slates;
    mapping(address => bytes32) public votes;
    mapping(address => uint256) public approvals;
    mapping(address => uint256) public deposits;
    DSToken public GOV; // the voting token, locked here
    DSToken public IOU; // receipt for locked GOV, minted/burned by the chief (its owner)
    address public hat; // the elected address: root user of this authority
    uint256 public MAX_YAYS;
    mapping(address => uint256) public last; // block of each voter's latest lock
    uint256 public live;

    event Etch(bytes32 indexed slate);

    constructor(DSToken GOV_, DSToken IOU_, uint256 MAX_YAYS_) {
        GOV = GOV_;
        IOU = IOU_;
        MAX_YAYS = MAX_YAYS_;
        // The chief is its own authority and has no owner.
        authority = DSAuthority(address(this));
        owner = address(0);
        emit LogSetAuthority(address(this));
        emit LogSetOwner(address(0));
    }

    // --- governance ---

    function launch() public note {
        require(live == 0, "ds-chief-already-live");
        require(hat == address(0) && approvals[address(0)] >= LAUNCH_THRESHOLD, "ds-chief-launch-threshold");
        live = 1;
    }

    function lock(uint256 wad) public note {
        last[msg.sender] = block.number;
        GOV.pull(msg.sender, wad);
        IOU.mint(msg.sender, wad);
        deposits[msg.sender] += wad;
        _addWeight(wad, votes[msg.sender]);
    }

    function free(uint256 wad) public note {
        require(block.number > last[msg.sender], "ds-chief-same-block-free");
        deposits[msg.sender] -= wad;
        _subWeight(wad, votes[msg.sender]);
        IOU.burn(msg.sender, wad);
        GOV.push(msg.sender, wad);
    }

    function etch(address[] memory yays) public note returns (bytes32 slate) {
        require(yays.length <= MAX_YAYS, "ds-chief-too-many-yays");
        _requireOrderedSet(yays);
        slate = keccak256(abi.encodePacked(yays));
        slates[slate] = yays;
        emit Etch(slate);
    }

    // No note of its own: the internal etch and vote(bytes32) calls each log one.
    function vote(address[] memory yays) public returns (bytes32) {
        bytes32 slate = etch(yays);
        vote(slate);
        return slate;
    }

    function vote(bytes32 slate) public note {
        require(slates[slate].length > 0 || slate == EMPTY_SLATE, "ds-chief-invalid-slate");
        uint256 weight = deposits[msg.sender];
        _subWeight(weight, votes[msg.sender]);
        votes[msg.sender] = slate;
        _addWeight(weight, slate);
    }

    function lift(address whom) public note {
        require(approvals[whom] > approvals[hat], "ds-chief-not-enough-approvals");
        hat = whom;
    }

    // --- authority (the DSRoles part) ---

    function isUserRoot(address who) public view returns (bool) {
        return live == 1 && who == hat;
    }

    function canCall(address caller, address, bytes4) public view override returns (bool) {
        return isUserRoot(caller);
    }

    function setOwner(address) public pure override {
        revert("ds-chief-no-owner");
    }

    function setAuthority(DSAuthority) public pure override {
        revert("ds-chief-no-authority");
    }

    function setRootUser(address, bool) public pure {
        revert("ds-chief-no-root-setter");
    }

    // --- internals ---

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

    // Strictly increasing addresses: sorted and free of duplicates.
    function _requireOrderedSet(address[] memory yays) internal pure {
        for (uint256 i = 1; i < yays.length; i++) {
            require(uint160(yays[i - 1]) < uint160(yays[i]), "ds-chief-yays-not-ordered");
        }
    }
}
