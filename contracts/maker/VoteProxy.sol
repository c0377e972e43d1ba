// SPDX-License-Identifier: AGPL-3.0-or-later
// Stand-in for makerdao/vote-proxy (VoteProxy and VoteProxyFactory, chainlog VOTE_PROXY_FACTORY).
// Same ABI and rules: a cold wallet asks to link a hot wallet, the hot wallet approves and gets a
// VoteProxy; either wallet can lock the cold wallet's GOV (the proxy pulls it, so the cold wallet
// must approve the proxy), free it back to the cold wallet, and vote; the IOU stays on the proxy.
// breakLink only works once the proxy has nothing locked.
// Difference: constructor parameters are typed `address` (mainnet: DSChief); the ABI is the same.
pragma solidity ^0.8.24;

interface VoteProxyTokenLike {
    function approve(address guy, uint256 wad) external returns (bool);
    function balanceOf(address usr) external view returns (uint256);
    function pull(address src, uint256 wad) external;
    function push(address dst, uint256 wad) external;
}

interface VoteProxyChiefLike {
    function GOV() external view returns (VoteProxyTokenLike);
    function IOU() external view returns (VoteProxyTokenLike);
    function deposits(address usr) external view returns (uint256);
    function lock(uint256 wad) external;
    function free(uint256 wad) external;
    function vote(address[] calldata yays) external returns (bytes32);
    function vote(bytes32 slate) external;
}

contract VoteProxy {
    address public cold;
    address public hot;
    VoteProxyTokenLike public gov;
    VoteProxyTokenLike public iou;
    VoteProxyChiefLike public chief;

    constructor(address chief_, address cold_, address hot_) {
        chief = VoteProxyChiefLike(chief_);
        cold = cold_;
        hot = hot_;
        gov = chief.GOV();
        iou = chief.IOU();
        gov.approve(chief_, type(uint256).max);
        iou.approve(chief_, type(uint256).max);
    }

    modifier auth() {
        require(msg.sender == hot || msg.sender == cold, "Sender must be a Cold or Hot Wallet");
        _;
    }

    function lock(uint256 wad) public auth {
        gov.pull(cold, wad); // GOV from the cold wallet
        chief.lock(wad); // GOV into the chief, IOU to this proxy
    }

    function free(uint256 wad) public auth {
        chief.free(wad); // IOU burned, GOV back here
        gov.push(cold, wad); // and on to the cold wallet
    }

    function freeAll() public auth {
        chief.free(chief.deposits(address(this)));
        gov.push(cold, gov.balanceOf(address(this)));
    }

    function vote(address[] memory yays) public auth returns (bytes32) {
        return chief.vote(yays);
    }

    function vote(bytes32 slate) public auth {
        chief.vote(slate);
    }
}

contract VoteProxyFactory {
    VoteProxyChiefLike public chief;
    mapping(address => VoteProxy) public hotMap;
    mapping(address => VoteProxy) public coldMap;
    mapping(address => address) public linkRequests; // cold => requested hot

    event LinkRequested(address indexed cold, address indexed hot);
    event LinkConfirmed(address indexed cold, address indexed hot, address indexed voteProxy);

    constructor(address chief_) {
        chief = VoteProxyChiefLike(chief_);
    }

    function hasProxy(address guy) public view returns (bool) {
        return address(coldMap[guy]) != address(0) || address(hotMap[guy]) != address(0);
    }

    function initiateLink(address hot) public {
        require(!hasProxy(msg.sender), "Cold wallet is already linked to another Vote Proxy");
        require(!hasProxy(hot), "Hot wallet is already linked to another Vote Proxy");
        linkRequests[msg.sender] = hot;
        emit LinkRequested(msg.sender, hot);
    }

    function approveLink(address cold) public returns (VoteProxy voteProxy) {
        require(linkRequests[cold] == msg.sender, "Cold wallet must initiate a link first");
        require(!hasProxy(msg.sender), "Hot wallet is already linked to another Vote Proxy");
        voteProxy = new VoteProxy(address(chief), cold, msg.sender);
        hotMap[msg.sender] = voteProxy;
        coldMap[cold] = voteProxy;
        delete linkRequests[cold];
        emit LinkConfirmed(cold, msg.sender, address(voteProxy));
    }

    function breakLink() public {
        require(hasProxy(msg.sender), "No VoteProxy found for this sender");
        VoteProxy voteProxy = address(coldMap[msg.sender]) != address(0) ? coldMap[msg.sender] : hotMap[msg.sender];
        require(chief.deposits(address(voteProxy)) == 0, "VoteProxy still has funds attached to it");
        delete coldMap[voteProxy.cold()];
        delete hotMap[voteProxy.hot()];
    }

    function linkSelf() public returns (VoteProxy voteProxy) {
        initiateLink(msg.sender);
        return approveLink(msg.sender);
    }
}
