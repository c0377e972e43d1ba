// SPDX-License-Identifier: AGPL-3.0-or-later
// Stand-in for makerdao/vote-delegate v1 (VoteDelegate and VoteDelegateFactory, chainlog
// VOTE_DELEGATE_FACTORY).
// Same ABI and rules: anyone locks GOV through the delegate contract and keeps the IOU; free needs
// the stake and an IOU allowance to this contract; only the delegate votes; lock and voting stop
// at `expiration` (one year after creation) while free never does; one contract per delegate.
// Difference: votePoll emits a local VotePoll event and forwards to the polling contract only
// when `polling` has code (the devnet may pass address 0); mainnet always forwards to the
// PollingEmitter. The 2024 version's reserveHatch() is not modelled.
pragma solidity ^0.8.24;

interface VoteDelegateTokenLike {
    function approve(address guy, uint256 wad) external returns (bool);
    function pull(address src, uint256 wad) external;
    function push(address dst, uint256 wad) external;
}

interface VoteDelegateChiefLike {
    function GOV() external view returns (VoteDelegateTokenLike);
    function IOU() external view returns (VoteDelegateTokenLike);
    function lock(uint256 wad) external;
    function free(uint256 wad) external;
    function vote(address[] calldata yays) external returns (bytes32);
    function vote(bytes32 slate) external;
}

interface VoteDelegatePollingLike {
    function vote(uint256 pollId, uint256 optionId) external;
    function vote(uint256[] calldata pollIds, uint256[] calldata optionIds) external;
}

contract VoteDelegate {
    mapping(address => uint256) public stake;

    address public immutable delegate;
    VoteDelegateTokenLike public immutable gov;
    VoteDelegateTokenLike public immutable iou;
    VoteDelegateChiefLike public immutable chief;
    VoteDelegatePollingLike public immutable polling;
    uint256 public immutable expiration;

    event Lock(address indexed usr, uint256 wad);
    event Free(address indexed usr, uint256 wad);
    event VotePoll(uint256 indexed pollId, uint256 indexed optionId);

    constructor(address chief_, address polling_, address delegate_) {
        chief = VoteDelegateChiefLike(chief_);
        polling = VoteDelegatePollingLike(polling_);
        delegate = delegate_;
        expiration = block.timestamp + 365 days;

        VoteDelegateTokenLike gov_ = VoteDelegateChiefLike(chief_).GOV();
        VoteDelegateTokenLike iou_ = VoteDelegateChiefLike(chief_).IOU();
        gov = gov_;
        iou = iou_;
        gov_.approve(chief_, type(uint256).max);
        iou_.approve(chief_, type(uint256).max);
    }

    modifier delegate_auth() {
        require(msg.sender == delegate, "VoteDelegate/sender-not-delegate");
        _;
    }

    modifier live() {
        require(block.timestamp < expiration, "VoteDelegate/delegation-contract-expired");
        _;
    }

    function lock(uint256 wad) external live {
        stake[msg.sender] += wad;
        gov.pull(msg.sender, wad);
        chief.lock(wad);
        iou.push(msg.sender, wad);
        emit Lock(msg.sender, wad);
    }

    function free(uint256 wad) external {
        require(stake[msg.sender] >= wad, "VoteDelegate/insufficient-stake");
        stake[msg.sender] -= wad;
        iou.pull(msg.sender, wad);
        chief.free(wad);
        gov.push(msg.sender, wad);
        emit Free(msg.sender, wad);
    }

    function vote(address[] memory yays) external delegate_auth live returns (bytes32 result) {
        result = chief.vote(yays);
    }

    function vote(bytes32 slate) external delegate_auth live {
        chief.vote(slate);
    }

    function votePoll(uint256 pollId, uint256 optionId) external delegate_auth live {
        if (address(polling).code.length > 0) {
            polling.vote(pollId, optionId);
        }
        emit VotePoll(pollId, optionId);
    }

    function votePoll(uint256[] calldata pollIds, uint256[] calldata optionIds) external delegate_auth live {
        require(pollIds.length == optionIds.length, "VoteDelegate/length-mismatch");
        if (address(polling).code.length > 0) {
            polling.vote(pollIds, optionIds);
        }
        for (uint256 i = 0; i < pollIds.length; i++) {
            emit VotePoll(pollIds[i], optionIds[i]);
        }
    }
}

contract VoteDelegateFactory {
    address public immutable chief;
    address public immutable polling;
    mapping(address => address) public delegates; // delegate => its VoteDelegate

    event CreateVoteDelegate(address indexed delegate, address indexed voteDelegate);

    constructor(address chief_, address polling_) {
        chief = chief_;
        polling = polling_;
    }

    function isDelegate(address guy) public view returns (bool) {
        return delegates[guy] != address(0);
    }

    function create() external returns (address voteDelegate) {
        require(!isDelegate(msg.sender), "VoteDelegateFactory/sender-is-already-delegate");
        voteDelegate = address(new VoteDelegate(chief, polling, msg.sender));
        delegates[msg.sender] = voteDelegate;
        emit CreateVoteDelegate(msg.sender, voteDelegate);
    }
}
