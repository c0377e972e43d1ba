// SPDX-License-Identifier: AGPL-3.0-or-later
// Stand-in for makerdao/vote-delegate v3 (SkyVoteDelegate and its factory, chainlog
// VOTE_DELEGATE_FACTORY since May 2025), on the new Chief.
// Same as mainnet: no IOU, no expiry, no reserve hatch; anyone locks SKY through the contract
// and frees their own `stake`; only the delegate votes (chief slates and polls); one contract
// per delegate, made by the factory, which emits CreateVoteDelegate.
// Difference: votePoll emits a local event and forwards to `polling` only when it has code (the
// devnet passes address 0); mainnet always forwards to its PollingEmitter.
pragma solidity ^0.8.24;

interface SkyVoteDelegateGemLike {
    function approve(address spender, uint256 value) external returns (bool);
    function transfer(address to, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

interface SkyVoteDelegateChiefLike {
    function GOV() external view returns (address);
    function lock(uint256 wad) external;
    function free(uint256 wad) external;
    function vote(address[] calldata yays) external returns (bytes32);
    function vote(bytes32 slate) external;
}

interface SkyVoteDelegatePollingLike {
    function vote(uint256 pollId, uint256 optionId) external;
}

contract SkyVoteDelegate {
    address public immutable delegate;
    SkyVoteDelegateGemLike public immutable gov;
    SkyVoteDelegateChiefLike public immutable chief;
    address public immutable polling;

    mapping(address => uint256) public stake;

    event Lock(address indexed usr, uint256 wad);
    event Free(address indexed usr, uint256 wad);
    event VotePoll(uint256 indexed pollId, uint256 optionId);

    constructor(address chief_, address polling_, address delegate_) {
        chief = SkyVoteDelegateChiefLike(chief_);
        polling = polling_;
        delegate = delegate_;
        gov = SkyVoteDelegateGemLike(SkyVoteDelegateChiefLike(chief_).GOV());
        gov.approve(chief_, type(uint256).max);
    }

    modifier delegateOnly() {
        require(msg.sender == delegate, "SkyVoteDelegate/sender-not-delegate");
        _;
    }

    function lock(uint256 wad) external {
        require(gov.transferFrom(msg.sender, address(this), wad), "SkyVoteDelegate/transfer-failed");
        chief.lock(wad);
        stake[msg.sender] += wad;
        emit Lock(msg.sender, wad);
    }

    function free(uint256 wad) external {
        require(stake[msg.sender] >= wad, "SkyVoteDelegate/insufficient-stake");
        stake[msg.sender] -= wad;
        chief.free(wad);
        require(gov.transfer(msg.sender, wad), "SkyVoteDelegate/transfer-failed");
        emit Free(msg.sender, wad);
    }

    function vote(address[] calldata yays) external delegateOnly returns (bytes32) {
        return chief.vote(yays);
    }

    function vote(bytes32 slate) external delegateOnly {
        chief.vote(slate);
    }

    function votePoll(uint256 pollId, uint256 optionId) external delegateOnly {
        if (polling.code.length > 0) SkyVoteDelegatePollingLike(polling).vote(pollId, optionId);
        emit VotePoll(pollId, optionId);
    }
}

contract SkyVoteDelegateFactory {
    address public immutable chief;
    address public immutable polling;

    mapping(address => address) public delegates;
    mapping(address => uint256) public created;

    event CreateVoteDelegate(address indexed usr, address indexed voteDelegate);

    constructor(address chief_, address polling_) {
        chief = chief_;
        polling = polling_;
    }

    function isDelegate(address guy) external view returns (bool) {
        return delegates[guy] != address(0);
    }

    function create() external returns (address voteDelegate) {
        require(delegates[msg.sender] == address(0), "SkyVoteDelegateFactory/sender-is-already-delegate");
        voteDelegate = address(new SkyVoteDelegate(chief, polling, msg.sender));
        delegates[msg.sender] = voteDelegate;
        created[voteDelegate] = 1;
        emit CreateVoteDelegate(msg.sender, voteDelegate);
    }
}
