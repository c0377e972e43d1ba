// SPDX-License-Identifier: AGPL-3.0-or-later
pragma solidity ^0.8.24;

// Never deployed: the client runs this contract's creation code with eth_call (no `to`), and
// the constructor returns everything one action needs to know, read in a single round trip
// even where one read depends on another (chainlog -> chief -> GOV -> balance). Reads that
// fail (a missing contract, a chain without the defender) come back as zero, so one snapshot
// shape serves mainnet, Protego-only chains and the devnet alike.

contract DefenderLens {
    struct Snapshot {
        uint256 chainId;
        uint256 blockNumber;
        uint256 timestamp;
        uint256 baseFee;
        // where things are
        address chief;
        address pause;
        address esm;
        address defender;
        address protego;
        address gov;
        address iou;
        address pauseProxy;
        // the voting token
        bytes32 symbol;
        uint256 decimals;
        // pause and chief
        uint256 pauseDelay;
        address hat;
        uint256 hatApprovals;
        uint256 maxYays;
        uint256 chiefLive;
        // defender
        uint256 defenderLive;
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
        // ESM
        uint256 esmSum;
        uint256 esmMin;
        uint256 esmLive;
        // the user
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

    /// `book` = [chief, pause, esm, defender, protego]; zero entries are looked up in `chainlog`
    /// (when it is not zero) under MCD_ADM, MCD_PAUSE, MCD_ESM, MCD_DEFENDER, MCD_PROTEGO.
    constructor(address chainlog, address[5] memory book, address user) {
        Snapshot memory s;
        s.chainId = block.chainid;
        s.blockNumber = block.number;
        s.timestamp = block.timestamp;
        s.baseFee = block.basefee;

        bytes32[5] memory keys = [bytes32("MCD_ADM"), "MCD_PAUSE", "MCD_ESM", "MCD_DEFENDER", "MCD_PROTEGO"];
        for (uint256 i = 0; i < 5; i++) {
            if (book[i] == address(0) && chainlog.code.length > 0) {
                book[i] = _address(chainlog, abi.encodeWithSignature("getAddress(bytes32)", keys[i]));
            }
        }
        (s.chief, s.pause, s.esm, s.defender, s.protego) = (book[0], book[1], book[2], book[3], book[4]);

        s.gov = _address(s.chief, abi.encodeWithSignature("GOV()"));
        s.iou = _address(s.chief, abi.encodeWithSignature("IOU()"));
        s.pauseProxy = _address(s.pause, abi.encodeWithSignature("proxy()"));
        s.symbol = bytes32(_word(s.gov, abi.encodeWithSignature("symbol()")));
        s.decimals = _word(s.gov, abi.encodeWithSignature("decimals()"));

        s.pauseDelay = _word(s.pause, abi.encodeWithSignature("delay()"));
        s.hat = _address(s.chief, abi.encodeWithSignature("hat()"));
        s.hatApprovals = _word(s.chief, abi.encodeWithSignature("approvals(address)", s.hat));
        s.maxYays = _word(s.chief, abi.encodeWithSignature("MAX_YAYS()"));
        s.chiefLive = _word(s.chief, abi.encodeWithSignature("live()"));

        _readDefender(s);
        s.esmSum = _word(s.esm, abi.encodeWithSignature("Sum()"));
        s.esmMin = _word(s.esm, abi.encodeWithSignature("min()"));
        s.esmLive = _word(s.esm, abi.encodeWithSignature("live()"));
        if (user != address(0)) _readUser(s, user);

        bytes memory out = abi.encode(s);
        assembly {
            return(add(out, 32), mload(out))
        }
    }

    /// Never called: it puts `Snapshot` into the ABI, so the client decodes the constructor's
    /// output with bindings generated from abi/DefenderLens.json like every other contract.
    function snapshotShape() external pure returns (Snapshot memory s) {}

    function _readDefender(Snapshot memory s) internal view {
        address d = s.defender;
        if (d.code.length == 0) return;
        s.defenderLive = _word(d, abi.encodeWithSignature("live()"));
        s.released = _word(d, abi.encodeWithSignature("released()"));
        s.activatedAt = _word(d, abi.encodeWithSignature("activatedAt()"));
        s.total = _word(d, abi.encodeWithSignature("total()"));
        s.threshold = _word(d, abi.encodeWithSignature("threshold()"));
        s.cancelDuration = _word(d, abi.encodeWithSignature("cancelDuration()"));
        s.lockupDuration = _word(d, abi.encodeWithSignature("lockupDuration()"));
        s.canceling = _word(d, abi.encodeWithSignature("canceling()")) != 0;
        s.spell = _address(d, abi.encodeWithSignature("spell()"));
        s.spellApprovals = _word(s.chief, abi.encodeWithSignature("approvals(address)", s.spell));
        s.spellEta = _word(s.spell, abi.encodeWithSignature("eta()"));
        s.spellDone = _word(s.spell, abi.encodeWithSignature("done()")) != 0;
    }

    function _readUser(Snapshot memory s, address user) internal view {
        s.ethBalance = user.balance;
        s.govBalance = _word(s.gov, abi.encodeWithSignature("balanceOf(address)", user));
        s.iouBalance = _word(s.iou, abi.encodeWithSignature("balanceOf(address)", user));
        s.govAllowanceDefender = _allowance(s.gov, user, s.defender);
        s.govAllowanceChief = _allowance(s.gov, user, s.chief);
        s.govAllowanceEsm = _allowance(s.gov, user, s.esm);
        s.iouAllowanceChief = _allowance(s.iou, user, s.chief);
        s.chiefDeposits = _word(s.chief, abi.encodeWithSignature("deposits(address)", user));
        s.slate = bytes32(_word(s.chief, abi.encodeWithSignature("votes(address)", user)));
        s.yays = _slate(s.chief, s.slate, s.maxYays);
        if (s.defender.code.length > 0) {
            s.deposit = _word(s.defender, abi.encodeWithSignature("deposits(address)", user));
            s.unlockAt = _word(s.defender, abi.encodeWithSignature("unlockAt(address)", user));
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
