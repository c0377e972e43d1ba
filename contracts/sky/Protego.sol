// SPDX-License-Identifier: AGPL-3.0-or-later
// Stand-in for sky-ecosystem/protego (Protego, chainlog MCD_PROTEGO, and its EmergencyDropSpell).
// Same as mainnet (shared/spec/sky-governance.md): while Protego is the chief's hat anyone may
// `drop` one plan or a list of plans through it (DSPause's auth passes because the chief's
// canCall names the hat), and `Drop(id)` is emitted even for an id that was never planned;
// `deploy(usr, tag, fax, eta)` makes an EmergencyDropSpell for exactly that plan, whose
// `schedule()`/`drop()` drop it once the spell is the hat; `description()` carries the 32 raw
// bytes of the plan id; `done()` is "not planned"; `cast()` does nothing.
// Difference: the spell's `log()` is the chainlog Protego was given (the devnet's), where
// mainnet's spell returns mainnet's chainlog constant.
pragma solidity ^0.8.24;

interface ProtegoPauseLike {
    function plans(bytes32 id) external view returns (bool);
    function drop(address usr, bytes32 tag, bytes calldata fax, uint256 eta) external;
}

contract Protego {
    struct Plan {
        address usr;
        bytes32 tag;
        bytes fax;
        uint256 eta;
    }

    address public immutable pause;
    address public immutable chainlog;

    event Deploy(address dropSpell);
    event Drop(bytes32 id);

    constructor(address pause_, address chainlog_) {
        pause = pause_;
        chainlog = chainlog_;
    }

    function id(address usr, bytes32 tag, bytes memory fax, uint256 eta) public pure returns (bytes32) {
        return keccak256(abi.encode(usr, tag, fax, eta));
    }

    function planned(address usr, bytes32 tag, bytes memory fax, uint256 eta) external view returns (bool) {
        return planned(id(usr, tag, fax, eta));
    }

    function planned(bytes32 id_) public view returns (bool) {
        return ProtegoPauseLike(pause).plans(id_);
    }

    function deploy(address usr, bytes32 tag, bytes memory fax, uint256 eta) external returns (address spell) {
        spell = address(new EmergencyDropSpell(address(this), usr, tag, fax, eta));
        emit Deploy(spell);
    }

    function drop(address usr, bytes32 tag, bytes memory fax, uint256 eta) public {
        ProtegoPauseLike(pause).drop(usr, tag, fax, eta);
        emit Drop(id(usr, tag, fax, eta));
    }

    function drop(Plan[] memory plans) external {
        for (uint256 i = 0; i < plans.length; i++) {
            drop(plans[i].usr, plans[i].tag, plans[i].fax, plans[i].eta);
        }
    }
}

interface EmergencyDropSpellProtegoLike {
    function pause() external view returns (address);
    function chainlog() external view returns (address);
    function id(address usr, bytes32 tag, bytes memory fax, uint256 eta) external pure returns (bytes32);
    function planned(bytes32 id) external view returns (bool);
}

contract EmergencyDropSpell {
    bool public constant officeHours = false;
    uint256 public constant expiration = type(uint256).max;
    uint256 public constant nextCastTime = type(uint256).max;

    EmergencyDropSpellProtegoLike public immutable protego;
    ProtegoPauseLike public immutable pause;
    address public immutable log;
    address public immutable action;
    bytes32 public immutable tag;
    uint256 public immutable eta;
    bytes public sig;

    event Drop();

    constructor(address protego_, address usr, bytes32 tag_, bytes memory fax, uint256 eta_) {
        protego = EmergencyDropSpellProtegoLike(protego_);
        pause = ProtegoPauseLike(EmergencyDropSpellProtegoLike(protego_).pause());
        log = EmergencyDropSpellProtegoLike(protego_).chainlog();
        action = usr;
        tag = tag_;
        sig = fax;
        eta = eta_;
    }

    function description() external view returns (string memory) {
        return string(abi.encodePacked("Sky Protocol Drop Spell: ", _id()));
    }

    function planned() public view returns (bool) {
        return protego.planned(_id());
    }

    function done() external view returns (bool) {
        return !planned();
    }

    function schedule() external {
        drop();
    }

    function drop() public {
        pause.drop(action, tag, sig, eta);
        emit Drop();
    }

    function cast() external {}

    function _id() internal view returns (bytes32) {
        return protego.id(action, tag, sig, eta);
    }
}
