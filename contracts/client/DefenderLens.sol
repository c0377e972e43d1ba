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
        /// DSChief 1.2 where the chief is the new one (MCD_ADM_LEGACY); zero otherwise.
        address legacyChief;
        address legacyIou;
        /// MKR where it is no longer the voting token (chainlog key MKR).
        address mkr;
        address mkrSky;
        address voteDelegateFactory;
        /// The token the ESM takes: MKR on both layouts, not always the chief's GOV.
        address esmGem;
    }

    /// The voting token, the pause, the chief and the ESM.
    struct Governance {
        /// `symbol()`'s raw answer: a bytes32 (DSToken) or an ABI string (SKY).
        bytes symbol;
        uint256 decimals;
        uint256 pauseDelay;
        address hat;
        uint256 hatApprovals;
        uint256 maxYays;
        uint256 chiefLive;
        uint256 esmSum;
        uint256 esmMin;
        uint256 esmLive;
        /// 1: DSChief 1.2 (answers IOU()); 2: the new Chief (answers liftCooldown()); 0: neither.
        uint256 chiefKind;
        uint256 last;
        uint256 liftCooldown;
        uint256 launchThreshold;
        uint256 protegoApprovals;
        /// The Protego the hat says made it (an EmergencyDropSpell's protego()), else zero.
        address hatProtego;
        uint256 mkrSkyRate;
        uint256 mkrSkyFee;
        uint256 mkrSkyBalance;
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
        uint256 mkrBalance;
        uint256 mkrAllowanceMkrSky;
        uint256 esmGemBalance;
        uint256 legacyDeposits;
        uint256 legacyIouBalance;
        uint256 legacyIouAllowance;
    }

    struct Snapshot {
        Block block;
        Contracts at;
        Governance gov;
        Defender defender;
        Position user;
        /// The chief's approvals of each address the caller asked about, in order.
        uint256[] approvals;
    }

    /// Mainnet's DSChief 1.2, which has no chainlog key any more (shared/spec/sky-governance.md).
    address internal constant MAINNET_LEGACY_CHIEF = 0x0a3f6849f78076aefaDf113F5BED87720274dDC0;

    /// `book` = [chief, pause, esm, defender, protego, legacy chief, MKR, MKR_SKY, vote delegate
    /// factory]; zero entries are looked up in `chainlog` (when it is not zero) under MCD_ADM,
    /// MCD_PAUSE, MCD_ESM, MCD_DEFENDER, MCD_PROTEGO, MCD_ADM_LEGACY, MKR, MKR_SKY,
    /// VOTE_DELEGATE_FACTORY. `spells`: addresses whose chief approvals to read (a spell to
    /// lift, say), since the chief's own address is known only in here.
    constructor(address chainlog, address[9] memory book, address user, address[] memory spells) {
        Snapshot memory s;
        s.block = Block(block.chainid, block.number, block.timestamp, block.basefee);

        bytes32[9] memory keys = [
            bytes32("MCD_ADM"),
            "MCD_PAUSE",
            "MCD_ESM",
            "MCD_DEFENDER",
            "MCD_PROTEGO",
            "MCD_ADM_LEGACY",
            "MKR",
            "MKR_SKY",
            "VOTE_DELEGATE_FACTORY"
        ];
        for (uint256 i = 0; i < 9; i++) {
            if (book[i] == address(0) && chainlog.code.length > 0) {
                book[i] = _address(chainlog, abi.encodeWithSignature("getAddress(bytes32)", keys[i]));
            }
        }
        Contracts memory at = s.at;
        (at.chief, at.pause, at.esm, at.defender, at.protego) = (book[0], book[1], book[2], book[3], book[4]);
        (at.mkr, at.mkrSky, at.voteDelegateFactory) = (book[6], book[7], book[8]);
        at.gov = _address(at.chief, abi.encodeWithSignature("GOV()"));
        at.iou = _address(at.chief, abi.encodeWithSignature("IOU()"));
        at.pauseProxy = _address(at.pause, abi.encodeWithSignature("proxy()"));
        at.esmGem = _address(at.esm, abi.encodeWithSignature("gem()"));
        if (at.iou == address(0)) {
            // Only beside the new Chief is there a legacy one; on chain 1 it is known.
            at.legacyChief = book[5];
            if (at.legacyChief == address(0) && block.chainid == 1) at.legacyChief = MAINNET_LEGACY_CHIEF;
            if (at.legacyChief.code.length == 0) at.legacyChief = address(0);
            at.legacyIou = _address(at.legacyChief, abi.encodeWithSignature("IOU()"));
        }

        _readGovernance(s.gov, at);
        _readDefender(s.defender, at);
        if (user != address(0)) _readUser(s.user, at, s.gov.maxYays, user);
        s.approvals = new uint256[](spells.length);
        for (uint256 i = 0; i < spells.length; i++) {
            s.approvals[i] = _word(at.chief, abi.encodeWithSignature("approvals(address)", spells[i]));
        }

        bytes memory out = abi.encode(s);
        assembly {
            return(add(out, 32), mload(out))
        }
    }

    /// Never called: it puts `Snapshot` into the ABI, so the client decodes the constructor's
    /// output with bindings generated from abi/DefenderLens.json like every other contract.
    function snapshotShape() external pure returns (Snapshot memory s) {}

    function _readGovernance(Governance memory g, Contracts memory at) internal view {
        g.symbol = _raw(at.gov, abi.encodeWithSignature("symbol()"));
        g.decimals = _word(at.gov, abi.encodeWithSignature("decimals()"));
        g.pauseDelay = _word(at.pause, abi.encodeWithSignature("delay()"));
        g.hat = _address(at.chief, abi.encodeWithSignature("hat()"));
        g.hatApprovals = _word(at.chief, abi.encodeWithSignature("approvals(address)", g.hat));
        g.maxYays = _word(at.chief, abi.encodeWithSignature("MAX_YAYS()"));
        g.chiefLive = _word(at.chief, abi.encodeWithSignature("live()"));
        g.esmSum = _word(at.esm, abi.encodeWithSignature("Sum()"));
        g.esmMin = _word(at.esm, abi.encodeWithSignature("min()"));
        g.esmLive = _word(at.esm, abi.encodeWithSignature("live()"));
        (bool answersCooldown, uint256 cooldown) = _try(at.chief, abi.encodeWithSignature("liftCooldown()"));
        if (at.iou != address(0)) {
            g.chiefKind = 1;
        } else if (answersCooldown) {
            g.chiefKind = 2;
            g.liftCooldown = cooldown;
            g.last = _word(at.chief, abi.encodeWithSignature("last()"));
            g.launchThreshold = _word(at.chief, abi.encodeWithSignature("launchThreshold()"));
        }
        if (at.protego != address(0)) {
            g.protegoApprovals = _word(at.chief, abi.encodeWithSignature("approvals(address)", at.protego));
        }
        g.hatProtego = _address(g.hat, abi.encodeWithSignature("protego()"));
        g.mkrSkyRate = _word(at.mkrSky, abi.encodeWithSignature("rate()"));
        g.mkrSkyFee = _word(at.mkrSky, abi.encodeWithSignature("fee()"));
        g.mkrSkyBalance = _word(at.gov, abi.encodeWithSignature("balanceOf(address)", at.mkrSky));
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
        p.govAllowanceEsm = _allowance(at.esmGem, user, at.esm);
        p.iouAllowanceChief = _allowance(at.iou, user, at.chief);
        p.chiefDeposits = _word(at.chief, abi.encodeWithSignature("deposits(address)", user));
        p.slate = bytes32(_word(at.chief, abi.encodeWithSignature("votes(address)", user)));
        p.yays = _slate(at.chief, p.slate, maxYays);
        if (at.defender.code.length > 0) {
            p.deposit = _word(at.defender, abi.encodeWithSignature("deposits(address)", user));
            p.unlockAt = _word(at.defender, abi.encodeWithSignature("unlockAt(address)", user));
        }
        p.mkrBalance = _word(at.mkr, abi.encodeWithSignature("balanceOf(address)", user));
        p.mkrAllowanceMkrSky = _allowance(at.mkr, user, at.mkrSky);
        p.esmGemBalance = _word(at.esmGem, abi.encodeWithSignature("balanceOf(address)", user));
        p.legacyDeposits = _word(at.legacyChief, abi.encodeWithSignature("deposits(address)", user));
        p.legacyIouBalance = _word(at.legacyIou, abi.encodeWithSignature("balanceOf(address)", user));
        p.legacyIouAllowance = _allowance(at.legacyIou, user, at.legacyChief);
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
        (, value) = _try(target, data);
    }

    /// Whether `target` answered with at least a word, and that word.
    function _try(address target, bytes memory data) internal view returns (bool answered, uint256 value) {
        if (target.code.length == 0) return (false, 0);
        (bool ok, bytes memory ret) = target.staticcall(data);
        if (ok && ret.length >= 32) return (true, abi.decode(ret, (uint256)));
    }

    /// The whole answer, capped so a hostile token cannot make the snapshot huge.
    function _raw(address target, bytes memory data) internal view returns (bytes memory ret) {
        if (target.code.length == 0) return ret;
        bool ok;
        (ok, ret) = target.staticcall(data);
        if (!ok || ret.length > 256) ret = "";
    }

    function _address(address target, bytes memory data) internal view returns (address) {
        return address(uint160(_word(target, data)));
    }
}
