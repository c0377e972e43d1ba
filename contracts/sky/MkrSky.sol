// SPDX-License-Identifier: AGPL-3.0-or-later
// Stand-in for makerdao/sky's MkrSky (chainlog MKR_SKY): the one-way MKR -> SKY converter.
// Same as mainnet where the client looks: `mkrToSky(usr, mkrAmt)` takes `mkrAmt` MKR from the
// caller (who must have approved the converter), pays `mkrAmt * rate` SKY less `fee` (a wad)
// to `usr` out of the converter's own SKY balance, keeps the fee as `take`, and emits
// MkrToSky(caller, usr, mkrAmt, skyAmt, skyFee) where skyAmt is the gross amount before the
// fee. There is no way back.
// Difference: mainnet burns the caller's MKR through MKR's authority; here the converter pulls
// it (transferFrom, the same allowance) and burns its own balance, which any DSToken holder may.
pragma solidity ^0.8.24;

interface MkrSkyMkrLike {
    function transferFrom(address src, address dst, uint256 wad) external returns (bool);
    function burn(uint256 wad) external;
}

interface MkrSkySkyLike {
    function transfer(address to, uint256 value) external returns (bool);
}

contract MkrSky {
    uint256 internal constant WAD = 10 ** 18;

    MkrSkyMkrLike public immutable mkr;
    MkrSkySkyLike public immutable sky;
    uint256 public immutable rate;

    mapping(address => uint256) public wards;
    uint256 public fee;
    uint256 public take;

    event Rely(address indexed usr);
    event Deny(address indexed usr);
    event File(bytes32 indexed what, uint256 data);
    event MkrToSky(address indexed caller, address indexed usr, uint256 mkrAmt, uint256 skyAmt, uint256 skyFee);

    constructor(address mkr_, address sky_, uint256 rate_) {
        mkr = MkrSkyMkrLike(mkr_);
        sky = MkrSkySkyLike(sky_);
        rate = rate_;
        wards[msg.sender] = 1;
        emit Rely(msg.sender);
    }

    modifier auth() {
        require(wards[msg.sender] == 1, "MkrSky/not-authorized");
        _;
    }

    function rely(address usr) external auth {
        wards[usr] = 1;
        emit Rely(usr);
    }

    function deny(address usr) external auth {
        wards[usr] = 0;
        emit Deny(usr);
    }

    function file(bytes32 what, uint256 data) external auth {
        require(what == "fee", "MkrSky/file-unrecognized-param");
        require(data < WAD, "MkrSky/fee-too-high");
        fee = data;
        emit File(what, data);
    }

    function mkrToSky(address usr, uint256 mkrAmt) external {
        mkr.transferFrom(msg.sender, address(this), mkrAmt);
        mkr.burn(mkrAmt);
        uint256 skyAmt = mkrAmt * rate;
        uint256 skyFee = skyAmt * fee / WAD;
        take += skyFee;
        require(sky.transfer(usr, skyAmt - skyFee), "MkrSky/transfer-failed");
        emit MkrToSky(msg.sender, usr, mkrAmt, skyAmt, skyFee);
    }
}
