"""H2O's random draws reproduced bit for bit: pinned answers of real H2O 3.46.0.12.

The pins below were produced by ``python3 bench/pin_h2o_random.py`` (h2o 3.46.0.12,
Java 17, its own 1-thread H2O JVM) and pasted verbatim. The frame has 100 rows: ``id``
0..99, ``cls`` an enum (levels a, b, c) and ``k`` an int column (values 2, 5, 9 and NA).
runif values are pinned as integers v * 2**24 (H2O's runif is a 24-bit float). The
``cv_*`` pins are the per-row folds of a 1-tree GBM's cross-validation
(``keep_cross_validation_fold_assignment``); ``java_random`` is pinned from the JDK's
``java.util.Random`` in the draw order of the script's ``_JAVA_SOURCE``.
"""
import struct

import numpy as np
import pytest

from daskml_h2o import _pcg

PINS = {'cls': ['b', 'a', 'a', 'a', 'c', 'c', 'b', 'b', 'b', 'c', 'c', 'a', 'c', 'a', 'b', 'a', 'c', 'b',
         'a', 'a', 'a', 'a', 'b', 'b', 'b', 'a', 'c', 'c', 'b', 'b', 'b', 'a', 'a', 'b', 'b', 'a',
         'a', 'c', 'c', 'a', 'b', 'a', 'b', 'a', 'a', 'c', 'a', 'b', 'a', 'c', 'b', 'a', 'c', 'a',
         'a', 'a', 'a', 'b', 'a', 'a', 'a', 'a', 'a', 'b', 'a', 'b', 'a', 'c', 'a', 'a', 'b', 'c',
         'a', 'c', 'a', 'a', 'b', 'c', 'c', 'a', 'b', 'a', 'b', 'b', 'a', 'b', 'b', 'c', 'a', 'b',
         'c', 'c', 'a', 'c', 'c', 'c', 'a', 'c', 'c', 'c'],
 'cv_random_cls_3_seed42': [0, 2, 1, 0, 1, 2, 1, 0, 1, 1, 2, 0, 1, 0, 0, 1, 2, 2, 1, 0, 0, 0, 1, 0,
                            0, 0, 0, 1, 0, 2, 2, 1, 2, 0, 2, 1, 1, 1, 0, 0, 0, 2, 0, 0, 0, 0, 1, 1,
                            2, 1, 1, 1, 0, 2, 2, 1, 2, 1, 0, 0, 2, 1, 1, 1, 2, 0, 0, 2, 0, 2, 2, 0,
                            0, 1, 1, 0, 1, 0, 0, 2, 1, 2, 1, 1, 2, 2, 1, 2, 1, 0, 1, 2, 1, 0, 2, 2,
                            1, 0, 2, 0],
 'cv_stratified_cls_3_seed42': [0, 0, 0, 0, 2, 2, 1, 1, 0, 0, 2, 1, 1, 2, 1, 0, 1, 0, 1, 0, 2, 0, 0,
                                2, 1, 2, 1, 0, 0, 1, 2, 1, 0, 0, 2, 1, 2, 0, 0, 0, 0, 2, 2, 2, 0, 2,
                                0, 2, 0, 0, 2, 0, 0, 0, 2, 0, 2, 0, 1, 2, 1, 0, 2, 1, 1, 0, 1, 2, 0,
                                0, 0, 1, 1, 2, 2, 0, 2, 2, 2, 1, 1, 1, 2, 2, 0, 0, 2, 0, 0, 2, 1, 0,
                                1, 0, 1, 2, 1, 2, 2, 0],
 'cv_stratified_cls_4_seed7': [1, 0, 0, 0, 0, 0, 0, 0, 2, 0, 1, 1, 0, 3, 0, 0, 1, 2, 2, 2, 0, 3, 3,
                               1, 3, 0, 0, 2, 0, 0, 3, 1, 3, 3, 0, 1, 2, 2, 3, 0, 3, 1, 2, 0, 0, 2,
                               2, 2, 3, 1, 0, 3, 2, 2, 2, 0, 2, 0, 3, 0, 2, 2, 1, 3, 3, 2, 2, 3, 0,
                               2, 1, 3, 2, 3, 3, 3, 1, 0, 2, 3, 2, 3, 2, 3, 1, 3, 1, 1, 2, 1, 2, 0,
                               2, 1, 1, 2, 3, 0, 2, 0],
 'cv_stratified_k_3_seed42': [0, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 2, 1, 0, 1, 2, 0, 0, 2, 2, 1,
                              2, 1, 2, 1, 2, 1, 1, 2, 2, 0, 0, 0, 1, 2, 1, 2, 0, 0, 1, 1, 2, 0, 0,
                              0, 0, 0, 0, 1, 0, 1, 1, 2, 2, 2, 0, 1, 2, 1, 0, 0, 0, 0, 2, 1, 2, 0,
                              1, 1, 2, 1, 0, 2, 0, 2, 2, 0, 2, 0, 1, 1, 2, 1, 2, 0, 0, 2, 2, 2, 0,
                              2, 0, 1, 1, 1, 2, 2, 0],
 'h2o_version': '3.46.0.12',
 'java_random': {-7: [2, 7, 0, 7, 0, 3, 3, 4, 1, 3, 7, 8, 0, 0, 0, 0, 1260374052, 272470848,
                      1218991975, 234734917, 0, 0, 2, 1, 701801676, 16831854, 571542604, 594348397,
                      161413615, 392079422, 855755715, -6394571799086019008, -8731416891915322381,
                      -4704905626456238482, 4593952010532407972, 4602365064513038978,
                      4603239431783872162, 1048446636, 1047238816, 1060145617, 1, 1, 0],
                 42: [0, 3, 8, 4, 5, 4, 1, 3, 10, 1, 14, 7, 0, 0, 0, 0, 995688456, 326327863,
                      937357226, 944462913, 2, 0, 1, 1, 380917387, 323298246, 726510756, 450472430,
                      1076582170, -747470862, 1568355455, 3176860285874836986, -7610621359446545191,
                      -4588066762141701118, 4603318693745945844, 4603399619252694607,
                      4604953226593407310, 1023455328, 1050808460, 1052197190, 0, 1, 0],
                 12345: [1, 0, 1, 8, 2, 4, 2, 4, 3, 0, 5, 15, 0, 0, 0, 0, 339874787, 564035175,
                         310954351, 140842792, 1, 2, 0, 2, 714223871, 607007439, 929830825,
                         753470903, -284814185, 387591904, -466995634, -8201417328859773479,
                         1895862094853980300, -1026407405350174195, 4596164208828248708,
                         4598238557955329070, 4604444845646891298, 1027727776, 1031481760,
                         1045268972, 0, 1, 0]},
 'k': [5, 2, 9, None, 2, 5, 5, None, 2, 9, 5, 2, 9, 2, 9, 5, None, 2, 9, 2, 2, 5, None, 5, 2, 2, 9,
       2, 2, 2, 5, 5, 9, 5, 2, 5, 9, 5, None, 2, 5, 5, 9, 2, 5, None, 2, 9, 5, 9, 2, 2, 2, 5, 2, 9,
       None, 2, 9, 2, 2, 5, 5, None, 9, 2, 2, 9, 9, 5, 2, None, 2, 2, 9, 9, 5, None, None, 9, 9, 2,
       2, 5, 9, 2, 2, None, 5, 5, 2, 5, 5, 2, None, 5, 2, 9, None, 5],
 'kfold_3_min_value_seed': [-2, 2, 1, 0, 1, 1, 2, 0, 1, 1, 2, 0, 0, 1, 0, 2, 0, 0, 0, 0, 1, 2, 0, 1,
                            0, 2, 2, 1, 2, 0, 0, 2, 2, 1, 1, 1, 2, 1, 2, 2, 1, 2, 2, 1, 0, 1, 0, 0,
                            1, 1, 1, 0, 0, 2, 1, 1, 0, 2, 2, 1, 2, 0, 1, 2, 0, 1, 0, 1, 1, 2, 1, 2,
                            0, 2, 0, 0, 2, 2, 1, 2, 0, 2, 0, 2, 2, 2, 2, 1, 2, 1, 0, 1, 2, 2, 0, 1,
                            0, 2, 0, 1],
 'kfold_3_seed42': [0, 2, 1, 0, 1, 2, 1, 0, 1, 1, 2, 0, 1, 0, 0, 1, 2, 2, 1, 0, 0, 0, 1, 0, 0, 0, 0,
                    1, 0, 2, 2, 1, 2, 0, 2, 1, 1, 1, 0, 0, 0, 2, 0, 0, 0, 0, 1, 1, 2, 1, 1, 1, 0, 2,
                    2, 1, 2, 1, 0, 0, 2, 1, 1, 1, 2, 0, 0, 2, 0, 2, 2, 0, 0, 1, 1, 0, 1, 0, 0, 2, 1,
                    2, 1, 1, 2, 2, 1, 2, 1, 0, 1, 2, 1, 0, 2, 2, 1, 0, 2, 0],
 'kfold_5_seed12345': [2, 2, 0, 1, 4, 3, 1, 4, 1, 1, 1, 4, 0, 3, 3, 4, 0, 4, 4, 1, 1, 4, 0, 0, 3, 0,
                       4, 1, 2, 2, 4, 0, 0, 1, 3, 4, 3, 0, 0, 3, 2, 1, 1, 0, 0, 1, 1, 1, 2, 2, 1, 1,
                       1, 4, 0, 0, 1, 4, 0, 2, 1, 2, 4, 0, 0, 0, 0, 2, 0, 0, 3, 0, 0, 0, 2, 4, 0, 1,
                       2, 2, 0, 1, 1, 1, 4, 1, 1, 2, 1, 4, 2, 2, 0, 3, 3, 4, 0, 1, 0, 0],
 'modulo_3': [0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1,
              2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0,
              1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2,
              0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0],
 'n_rows': 100,
 'runif_12345_times_2pow24': [3406872, 7593634, 3067592, 15669813, 10903770, 10677488, 8676728,
                              13838291, 6649592, 12791130, 11529721, 11256992, 4438515, 4996661,
                              7120853, 12786013, 14174996, 611532, 13651798, 1334292, 8215454,
                              15579244, 3696243, 11001801, 7941731, 2397511, 3164775, 1970432,
                              588723, 11800740, 1654367, 16242859, 5502853, 3112336, 9102758,
                              5834886, 11927328, 12925350, 9460802, 1335998, 11034810, 9894111,
                              5978802, 5079534, 13740198, 13558169, 2712749, 5893193, 2593877,
                              1871936, 1861482, 8631144, 11083164, 13874308, 4884, 15655906,
                              1879744, 9220420, 2398389, 2523403, 14726852, 11286333, 6788497,
                              676132, 6519873, 16317932, 6621773, 10250560, 12650775, 5856256,
                              12666919, 14286080, 4031451, 4096818, 12680432, 6385585, 16276808,
                              16602245, 4661912, 2970360, 12284373, 11607465, 4203562, 6245885,
                              2437978, 13476830, 8062549, 11636488, 5080724, 2743964, 6206312,
                              8568556, 15111798, 16102144, 6328773, 15425129, 15236433, 3770430,
                              10561745, 11848847],
 'runif_2pow55plus5_times_2pow24': [6972509, 7915379, 10815717, 15202648, 4137752, 8678888,
                                    12958139, 2192407, 15426339, 14385174, 1430740, 6524826,
                                    12071442, 4481229, 13357032, 11991387, 11706157, 7329071,
                                    9929922, 2780267, 13140498, 9382178, 1893450, 5380168, 5305665,
                                    15321831, 3635485, 6351270, 4747080, 12999276, 10861154,
                                    9666900, 15118475, 2300205, 3284260, 8601512, 382733, 718373,
                                    1523035, 11551592, 7267848, 7366820, 558337, 121735, 13762493,
                                    5996434, 11515277, 16234044, 14725148, 9826015, 3191856,
                                    9672796, 5854460, 14680826, 2846432, 2069772, 15183319, 1272685,
                                    15212531, 4649783, 690207, 8479600, 5409047, 1569049, 1952701,
                                    12891492, 13921723, 15998121, 8060189, 15994198, 10806501,
                                    5510363, 6331299, 3473313, 4004455, 3283210, 6486355, 9352185,
                                    14041006, 12064529, 8969745, 1569834, 7695968, 294881, 10970683,
                                    10363447, 1907433, 3868661, 15316950, 7109465, 2956985,
                                    12409956, 2020196, 16291726, 6096202, 8749423, 9475498, 4731459,
                                    16656834, 3946100],
 'runif_42_times_2pow24': [8619858, 11718562, 4290419, 4369289, 4352854, 6005174, 9335584, 1586330,
                           4475264, 57283, 15384541, 2244567, 13097250, 10215070, 15753998,
                           13358959, 367135, 8447550, 10376223, 12065406, 4887483, 8721728,
                           15199074, 14735947, 12192412, 9541837, 4450822, 13087141, 1787075,
                           4979516, 979934, 15056562, 15578846, 4394608, 10321478, 3804587, 5390450,
                           11258478, 12307935, 343610, 4146265, 5018306, 5779027, 7228665, 5345218,
                           16123044, 14822724, 4568329, 3786545, 1064956, 3650445, 13570683, 960884,
                           10320891, 16505844, 8666596, 5672172, 6208562, 8949170, 8375237, 246080,
                           1139703, 270570, 5383568, 4090481, 9784724, 2527621, 15555940, 10545922,
                           11301118, 5748547, 14825607, 7261993, 818410, 16701022, 11175166,
                           9999450, 241872, 14957031, 8567327, 14095005, 1049318, 520259, 3180782,
                           12956227, 1428174, 4518005, 10093129, 5506819, 15418111, 16443659,
                           12644283, 6584888, 4711180, 10807918, 16075198, 12563353, 12393445,
                           3334228, 101294],
 'runif_7_times_2pow24': [13064158, 3514921, 4146109, 15631437, 12320140, 2068300, 12742388,
                          6376671, 10402304, 2676864, 3596949, 8741685, 10438630, 2722953, 16652303,
                          9630386, 11384150, 11498955, 5879113, 4211311, 8730065, 279689, 4698001,
                          1004069, 3591211, 6322834, 6612787, 1814798, 11592916, 2545575, 8334593,
                          13463048, 10808629, 16353314, 626250, 8619858, 11718562, 4290419, 4369289,
                          4352854, 6005174, 9335584, 1586330, 4475264, 57283, 15384541, 2244567,
                          13097250, 10215070, 15753998, 13358959, 367135, 8447550, 10376223,
                          12065406, 4887483, 8721728, 15199074, 14735947, 12192412, 9541837,
                          4450822, 13087141, 1787075, 4979516, 979934, 15056562, 15578846, 4394608,
                          10321478, 3804587, 5390450, 11258478, 12307935, 343610, 4146265, 5018306,
                          5779027, 7228665, 5345218, 16123044, 14822724, 4568329, 3786545, 1064956,
                          3650445, 13570683, 960884, 10320891, 16505844, 8666596, 5672172, 6208562,
                          8949170, 8375237, 246080, 1139703, 270570, 5383568, 4090481],
 'split_0.3_0.3_seed7': [[1, 2, 5, 9, 10, 13, 19, 21, 22, 23, 24, 27, 29, 34, 37, 38, 39, 42, 43,
                          44, 46, 51, 55, 61, 63, 64, 65, 68, 70, 74, 75, 76, 82, 83, 84, 85, 87,
                          95, 96, 97, 99],
                         [7, 11, 15, 18, 20, 25, 26, 30, 35, 40, 41, 52, 56, 60, 71, 77, 78, 79, 90,
                          91, 92, 93, 94, 98],
                         [0, 3, 4, 6, 8, 12, 14, 16, 17, 28, 31, 32, 33, 36, 45, 47, 48, 49, 50, 53,
                          54, 57, 58, 59, 62, 66, 67, 69, 72, 73, 80, 81, 86, 88, 89]],
 'split_0.6_seed42_first': [0, 2, 3, 4, 5, 6, 7, 8, 9, 11, 16, 17, 20, 21, 25, 26, 28, 29, 30, 33,
                            35, 36, 39, 40, 41, 42, 43, 44, 47, 48, 49, 50, 52, 55, 56, 57, 58, 59,
                            60, 61, 62, 63, 64, 65, 66, 70, 72, 73, 76, 77, 79, 81, 82, 83, 85, 86,
                            88, 92, 93, 98, 99],
 'stratified_kfold_column_cls_3_seed42': [1, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 1, 2, 2, 1, 0, 0, 2, 1,
                                          0, 2, 0, 2, 0, 1, 2, 1, 2, 1, 1, 1, 1, 0, 1, 0, 1, 2, 0,
                                          2, 0, 1, 2, 0, 2, 0, 2, 0, 1, 0, 1, 1, 0, 1, 0, 2, 0, 2,
                                          0, 1, 2, 1, 0, 2, 0, 1, 2, 1, 2, 0, 0, 1, 2, 1, 0, 2, 0,
                                          2, 1, 2, 1, 0, 1, 1, 1, 0, 2, 0, 0, 0, 0, 2, 2, 1, 0, 0,
                                          1, 1, 1, 1, 1],
 'stratified_kfold_column_cls_4_seed7': [0, 0, 0, 0, 1, 2, 2, 1, 0, 1, 1, 1, 1, 3, 2, 0, 2, 3, 2, 2,
                                         0, 3, 2, 0, 2, 0, 2, 3, 2, 2, 2, 1, 3, 0, 3, 1, 2, 3, 0, 0,
                                         3, 1, 0, 0, 0, 3, 2, 3, 3, 0, 2, 3, 2, 2, 2, 0, 2, 0, 3, 0,
                                         2, 2, 1, 0, 3, 3, 2, 0, 0, 2, 1, 3, 2, 0, 3, 3, 1, 0, 2, 3,
                                         3, 3, 2, 1, 1, 1, 1, 0, 2, 0, 2, 2, 2, 1, 0, 2, 3, 1, 3,
                                         3]}

N = PINS["n_rows"]
# class index = level code of the enum; rank among sorted distinct values of the int
CLS = np.searchsorted(["a", "b", "c"], PINS["cls"])
K = np.array([-1 if v is None else {2: 0, 5: 1, 9: 2}[v] for v in PINS["k"]])
MIN_VALUE_SEED = 4787696381903850  # seed whose row 0 draws Integer.MIN_VALUE


def _members(split):
    return [list(np.flatnonzero(split == j)) for j in range(split.max() + 1)]


@pytest.mark.parametrize("seed", [42, 7, 12345])
def test_runif_matches_h2o(seed):
    expected = np.array(PINS[f"runif_{seed}_times_2pow24"]) / 2.0 ** 24
    np.testing.assert_array_equal(_pcg.runif(seed, 0, N), expected)


def test_frame_method_seed_is_rounded_like_a_double():
    seed = 2 ** 55 + 5
    assert _pcg.rapids_seed(seed) == 2 ** 55 + 8
    expected = np.array(PINS["runif_2pow55plus5_times_2pow24"]) / 2.0 ** 24
    np.testing.assert_array_equal(_pcg.runif(_pcg.rapids_seed(seed), 0, N), expected)
    assert not np.array_equal(_pcg.runif(seed, 0, N), expected)
    assert _pcg.rapids_seed(42) == 42 and _pcg.rapids_seed(2 ** 70) == 2 ** 63 - 1
    assert _pcg.rapids_seed(None) != _pcg.rapids_seed(-1)  # both random


def test_split_frame_one_ratio_matches_h2o():
    split = _pcg.split_index(_pcg.runif(42, 0, N), [0.6])
    assert _members(split)[0] == PINS["split_0.6_seed42_first"]


def test_split_frame_two_ratios_matches_h2o():
    split = _pcg.split_index(_pcg.runif(7, 0, N), [0.3, 0.3])
    assert split.dtype == np.int8
    assert _members(split) == PINS["split_0.3_0.3_seed7"]


@pytest.mark.parametrize("seed, nfolds, key", [
    (42, 3, "kfold_3_seed42"), (12345, 5, "kfold_5_seed12345"),
    (MIN_VALUE_SEED, 3, "kfold_3_min_value_seed"), (42, 3, "cv_random_cls_3_seed42")])
def test_random_folds_match_h2o(seed, nfolds, key):
    np.testing.assert_array_equal(_pcg.random_folds(seed, 0, N, nfolds), PINS[key])


def test_integer_min_value_gives_java_negative_fold():
    # Math.abs(Integer.MIN_VALUE) % 3 == -2 in Java, and H2O keeps it
    assert _pcg.PCG(MIN_VALUE_SEED).next_int() == -2 ** 31
    assert _pcg.random_folds(MIN_VALUE_SEED, 0, 1, 3)[0] == -2
    assert _pcg.random_folds(MIN_VALUE_SEED - 5, 5, 1, 7)[0] == -(2 ** 31 % 7)
    assert _pcg.random_folds(MIN_VALUE_SEED, 0, 1, 4)[0] == 0


def test_modulo_folds_match_h2o():
    np.testing.assert_array_equal(_pcg.modulo_folds(0, N, 3), PINS["modulo_3"])
    np.testing.assert_array_equal(_pcg.modulo_folds(7, 3, 4), [3, 0, 1])


@pytest.mark.parametrize("classes, seed, nfolds, key", [
    (CLS, 42, 3, "cv_stratified_cls_3_seed42"), (CLS, 7, 4, "cv_stratified_cls_4_seed7"),
    (K, 42, 3, "cv_stratified_k_3_seed42")])
def test_stratified_folds_match_h2o_cross_validation(classes, seed, nfolds, key):
    np.testing.assert_array_equal(_pcg.stratified_folds(seed, 0, classes, nfolds), PINS[key])


def test_stratified_folds_put_na_rows_in_row_mod_nfolds():
    folds = _pcg.stratified_folds(42, 0, K, 3)
    na = np.flatnonzero(K < 0)
    np.testing.assert_array_equal(folds[na], na % 3)


@pytest.mark.parametrize("seed, nfolds, key", [
    (42, 3, "stratified_kfold_column_cls_3_seed42"), (7, 4, "stratified_kfold_column_cls_4_seed7")])
def test_frame_stratified_kfold_column_ignores_the_classes(seed, nfolds, key):
    # H2O's frame method stratifies a zero column: every row is class 0
    zeros = np.zeros(N, dtype=np.int64)
    np.testing.assert_array_equal(_pcg.stratified_folds(seed, 0, zeros, nfolds), PINS[key])


@pytest.mark.parametrize("cut", [0, 1, 37, 99, 100])
def test_draws_do_not_depend_on_how_rows_are_chunked(cut):
    seed, n = 12345, 100
    whole = _pcg.runif(seed, 0, n)
    parts = np.concatenate([_pcg.runif(seed, 0, cut), _pcg.runif(seed, cut, n - cut)])
    np.testing.assert_array_equal(whole, parts)
    whole = _pcg.random_folds(seed, 0, n, 5)
    parts = np.concatenate([_pcg.random_folds(seed, 0, cut, 5),
                            _pcg.random_folds(seed, cut, n - cut, 5)])
    np.testing.assert_array_equal(whole, parts)
    whole = _pcg.modulo_folds(0, n, 3)
    np.testing.assert_array_equal(whole, np.concatenate(
        [_pcg.modulo_folds(0, cut, 3), _pcg.modulo_folds(cut, n - cut, 3)]))
    whole = _pcg.stratified_folds(seed, 0, K, 3)
    np.testing.assert_array_equal(whole, np.concatenate(
        [_pcg.stratified_folds(seed, 0, K[:cut], 3), _pcg.stratified_folds(seed, cut, K[cut:], 3)]))


def test_vector_draws_agree_with_the_scalar_generator():
    seeds = [0, 1, -1, 2 ** 63 - 1, -2 ** 63, 987654321987]
    for s in seeds:
        assert _pcg.runif(s, 0, 1)[0] == _pcg.PCG(s).next_float()
        assert _pcg.random_folds(s, 0, 1, 1000)[0] == abs(_pcg.PCG(s).next_int()) % 1000
    # seed + row wraps like a Java long
    assert _pcg.runif(2 ** 63 - 1, 1, 1)[0] == _pcg.PCG(-2 ** 63).next_float()


def test_scalar_generator_long_and_double_follow_the_int_stream():
    a, b = _pcg.PCG(42), _pcg.PCG(42)
    hi, lo = b.next_int() & 0xFFFFFFFF, b.next_int() & 0xFFFFFFFF
    value = (hi << 32) | lo
    assert a.next_long() == (value - 2 ** 64 if value >> 63 else value)
    d = _pcg.PCG(42).next_double()
    assert 0.0 <= d < 1.0 and (d * 2 ** 53).is_integer()


def test_split_index_boundaries_are_inclusive_on_the_left_split():
    u = np.array([0.0, 0.3, 0.30000001, 0.6, 0.6000001, 0.99])
    np.testing.assert_array_equal(_pcg.split_index(u, [0.3, 0.3]), [0, 0, 1, 1, 2, 2])


@pytest.mark.parametrize("ratios", [[], [-0.1], [0.5, 0.5], [1.0]])
def test_split_index_rejects_bad_ratios(ratios):
    with pytest.raises(ValueError, match="ratio"):
        _pcg.split_index(np.array([0.5]), ratios)


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="nfolds"):
        _pcg.random_folds(1, 0, 10, 0)
    with pytest.raises(ValueError, match="row_start"):
        _pcg.runif(1, -1, 10)
    with pytest.raises(ValueError, match="class_index"):
        _pcg.stratified_folds(1, 0, np.array([0.5, 1.0]), 3)


def test_resolve_seed():
    assert _pcg.resolve_seed(42) == 42
    assert _pcg.resolve_seed(2 ** 64 - 1) == -1  # wrapped to a Java long
    drawn = {_pcg.resolve_seed(None) for _ in range(4)} | {_pcg.resolve_seed(-1)}
    assert len(drawn) == 5 and all(-2 ** 63 <= s < 2 ** 63 for s in drawn)


def _bits_double(x):
    return struct.unpack("<q", struct.pack("<d", x))[0]


def _bits_float(x):
    return struct.unpack("<i", struct.pack("<f", x))[0]


@pytest.mark.parametrize("seed", [42, 12345, -7])
def test_java_random_matches_the_jdk(seed):
    r = _pcg.java_random(seed)
    got = [r.next_int(bound) for bound in [10, 7, 16, 1, 1500000000, 3, 1073741825]
           for _ in range(4)]
    got += [r.next_int() for _ in range(3)]
    got += [r.next_long() for _ in range(3)]
    got += [_bits_double(r.next_double()) for _ in range(3)]
    got += [_bits_float(r.next_float()) for _ in range(3)]
    got += [int(r.next_boolean()) for _ in range(3)]
    assert got == PINS["java_random"][seed]


def test_java_random_rejects_bad_bound():
    with pytest.raises(ValueError, match="bound"):
        _pcg.java_random(1).next_int(0)
