// SPDX-License-Identifier: AGPL-3.0-or-later
pragma solidity ^0.8.24;

// Never deployed: the client runs this contract's creation code with eth_call (no `to`), and
// the constructor returns everything one action needs to know, read in a single round trip
// even where one read depends on another (chainlog -> chief -> GOV -> balance). Reads that
// fail (a missing contract, a chain without the defender) come back as zero, so one snapshot
// shape serves mainnet, Protego-only chains and the devnet alike.

contract DefenderLens {
    struct Block {
        uint256 chainId;
        uint256 number;
        uint256 timestamp;
        uint256 baseFee;
    }

    /// Where things are.
    struct Contracts {
        address chief;
        address pause;
        address esm;
        address defender;
        address protego;
        address gov;
        address iou;
        address pauseProxy;
    }

    /// The voting token, the pause, the chief and the ESM.
    struct Governance {
        bytes32 symbol;
        uint256 decimals;
        uint256 pauseDelay;
        address hat;
        uint256 hatApprovals;
        uint256 maxYays;
        uint256 chiefLive;
        uint256 esmSum;
        uint256 esmMin;
        uint256 esmLive;
    }

    /// The live dss-defender instance and its default spell.
    struct Defender {
        uint256 live;
        uint256 released;
        uint256 activatedAt;
        uint256 total;
        uint256 threshold;
        uint256 cancelDuration;
        uint256 lockupDuration;
        bool canceling;
        address spell;
        uint256 spellApprovals;
        uint256 spellEta;
        bool spellDone;
    }

    /// The signer's own position.
    struct Position {
        uint256 ethBalance;
        uint256 govBalance;
        uint256 iouBalance;
        uint256 govAllowanceDefender;
        uint256 govAllowanceChief;
        uint256 govAllowanceEsm;
        uint256 iouAllowanceChief;
        uint256 chiefDeposits;
        bytes32 slate;
        address[] yays;
        uint256 deposit;
        uint256 unlockAt;
    }

    struct Snapshot {
        Block block;
        Contracts at;
        Governance gov;
        Defender defender;
        Position user;
    }

    /// `book` = [chief, pause, esm, defender, protego]; zero entries are looked up in `chainlog`
    /// (when it is not zero) under MCD_ADM, MCD_PAUSE, MCD_ESM, MCD_DEFENDER, MCD_PROTEGO.
    constructor(address chainlog, address[5] memory book, address user) {
        Snapshot memory s;
        s.block = Block(block.chainid, block.number, block.timestamp, block.basefee);

        bytes32[5] memory keys = [bytes32("MCD_ADM"), "MCD_PAUSE", "MCD_ESM", "MCD_DEFENDER", "MCD_PROTEGO"];
        for (uint256 i = 0; i < 5; i++) {
            if (book[i] == address(0) && chainlog.code.length > 0) {
                book[i] = _address(chainlog, abi.encodeWithSignature("getAddress(bytes32)", keys[i]));
            }
        }
        Contracts memory at = s.at;
        (at.chief, at.pause, at.esm, at.defender, at.protego) = (book[0], book[1], book[2], book[3], book[4]);
        at.gov = _address(at.chief, abi.encodeWithSignature("GOV()"));
        at.iou = _address(at.chief, abi.encodeWithSignature("IOU()"));
        at.pauseProxy = _address(at.pause, abi.encodeWithSignature("proxy()"));

        _readGovernance(s.gov, at);
        _readDefender(s.defender, at);
        if (user != address(0)) _readUser(s.user, at, s.gov.maxYays, user);

        bytes memory out = abi.encode(s);
        assembly {
            return(add(out, 32), mload(out))
        }
    }

    /// Never called: it puts `Snapshot` into the ABI, so the client decodes the constructor's
    /// output with bindings generated from abi/DefenderLens.json like every other contract.
    function snapshotShape() external pure returns (Snapshot memory s) {}

    function _readGovernance(Governance memory g, Contracts memory at) internal view {
        g.symbol = bytes32(_word(at.gov, abi.encodeWithSignature("symbol()")));
        g.decimals = _word(at.gov, abi.encodeWithSignature("decimals()"));
        g.pauseDelay = _word(at.pause, abi.encodeWithSignature("delay()"));
        g.hat = _address(at.chief, abi.encodeWithSignature("hat()"));
        g.hatApprovals = _word(at.chief, abi.encodeWithSignature("approvals(address)", g.hat));
        g.maxYays = _word(at.chief, abi.encodeWithSignature("MAX_YAYS()"));
        g.chiefLive = _word(at.chief, abi.encodeWithSignature("live()"));
        g.esmSum = _word(at.esm, abi.encodeWithSignature("Sum()"));
        g.esmMin = _word(at.esm, abi.encodeWithSignature("min()"));
        g.esmLive = _word(at.esm, abi.encodeWithSignature("live()"));
    }

    function _readDefender(Defender memory d, Contracts memory at) internal view {
        address instance = at.defender;
        if (instance.code.length == 0) return;
        d.live = _word(instance, abi.encodeWithSignature("live()"));
        d.released = _word(instance, abi.encodeWithSignature("released()"));
        d.activatedAt = _word(instance, abi.encodeWithSignature("activatedAt()"));
        d.total = _word(instance, abi.encodeWithSignature("total()"));
        d.threshold = _word(instance, abi.encodeWithSignature("threshold()"));
        d.cancelDuration = _word(instance, abi.encodeWithSignature("cancelDuration()"));
        d.lockupDuration = _word(instance, abi.encodeWithSignature("lockupDuration()"));
        d.canceling = _word(instance, abi.encodeWithSignature("canceling()")) != 0;
        d.spell = _address(instance, abi.encodeWithSignature("spell()"));
        d.spellApprovals = _word(at.chief, abi.encodeWithSignature("approvals(address)", d.spell));
        d.spellEta = _word(d.spell, abi.encodeWithSignature("eta()"));
        d.spellDone = _word(d.spell, abi.encodeWithSignature("done()")) != 0;
    }

    function _readUser(Position memory p, Contracts memory at, uint256 maxYays, address user) internal view {
        p.ethBalance = user.balance;
        p.govBalance = _word(at.gov, abi.encodeWithSignature("balanceOf(address)", user));
        p.iouBalance = _word(at.iou, abi.encodeWithSignature("balanceOf(address)", user));
        p.govAllowanceDefender = _allowance(at.gov, user, at.defender);
        p.govAllowanceChief = _allowance(at.gov, user, at.chief);
        p.govAllowanceEsm = _allowance(at.gov, user, at.esm);
        p.iouAllowanceChief = _allowance(at.iou, user, at.chief);
        p.chiefDeposits = _word(at.chief, abi.encodeWithSignature("deposits(address)", user));
        p.slate = bytes32(_word(at.chief, abi.encodeWithSignature("votes(address)", user)));
        p.yays = _slate(at.chief, p.slate, maxYays);
        if (at.defender.code.length > 0) {
            p.deposit = _word(at.defender, abi.encodeWithSignature("deposits(address)", user));
            p.unlockAt = _word(at.defender, abi.encodeWithSignature("unlockAt(address)", user));
        }
    }

    function _slate(address chief, bytes32 slate, uint256 maxYays) internal view returns (address[] memory yays) {
        uint256 limit = maxYays == 0 || maxYays > 20 ? 20 : maxYays;
        address[] memory found = new address[](limit);
        uint256 n = 0;
        for (; n < limit; n++) {
            (bool ok, bytes memory ret) =
                chief.staticcall(abi.encodeWithSignature("slates(bytes32,uint256)", slate, n));
            if (!ok || ret.length < 32) break;
            found[n] = abi.decode(ret, (address));
        }
        yays = new address[](n);
        for (uint256 i = 0; i < n; i++) {
            yays[i] = found[i];
        }
    }

    function _allowance(address token, address owner, address spender) internal view returns (uint256) {
        if (spender == address(0)) return 0;
        return _word(token, abi.encodeWithSignature("allowance(address,address)", owner, spender));
    }

    function _word(address target, bytes memory data) internal view returns (uint256 value) {
        if (target.code.length == 0) return 0;
        (bool ok, bytes memory ret) = target.staticcall(data);
        if (ok && ret.length >= 32) value = abi.decode(ret, (uint256));
    }

    function _address(address target, bytes memory data) internal view returns (address) {
        return address(uint160(_word(target, data)));
    }
}
